--- The AWS shared configuration: ~/.aws/config and ~/.aws/credentials (or
--- AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE), the profile in use, and
--- the settings the SDKs take from the environment or the profile: region,
--- endpoint, max_attempts. Used by the clients and by tide.aws.credentials.
---
--- Every function takes the client's options table `opts` (nil is {}); it
--- reads only these fields, and checks none (the client checks its own):
---   profile        the profile's name (default AWS_PROFILE, then
---                  AWS_DEFAULT_PROFILE, then "default")
---   region, endpoint, max_attempts   the client's own settings, which win
---   env            where environment variables come from: a table
---                  name -> value, or a function(name) -> value (default
---                  os.getenv). For tests, and for callers that keep their
---                  own environment.
---
---   config.load(opts)        -> {profiles=, services=, sso_sessions=,
---                               profile_name=, profile=, explicit=}
---   config.region(opts)      -> opts.region, AWS_REGION, AWS_DEFAULT_REGION,
---                               the profile's region; or nil
---   config.endpoint(service_id, opts)
---                            -> opts.endpoint, AWS_ENDPOINT_URL_<SERVICE>
---                               (e.g. AWS_ENDPOINT_URL_STS,
---                               AWS_ENDPOINT_URL_SECRETS_MANAGER), AWS_ENDPOINT_URL,
---                               the profile's services section, the
---                               profile's endpoint_url; or nil (the caller
---                               builds the AWS endpoint). Except for
---                               opts.endpoint, none of these counts when
---                               AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the
---                               profile's ignore_configured_endpoint_urls)
---                               is true.
---   config.max_attempts(opts) -> opts.max_attempts, AWS_MAX_ATTEMPTS, the
---                               profile's max_attempts; or nil
---   config.getenv(opts)      -> the function(name) that reads opts.env
---   config.parse(text)       -> sections: name -> {key = value}; an
---                               indented block under `key =` becomes a
---                               table (`s3 =\n  addressing_style = path`)
---
--- The files are read when asked (they are small); a missing file is an
--- empty one. In the config file a profile's section is `[profile name]`
--- (and `[default]`), in the credentials file `[name]`; a profile in both
--- has the keys of both, the credentials file's winning.
-- @module tide.aws.config
local M = {}

local type, tonumber, pairs, os_getenv = type, tonumber, pairs, os.getenv

--- The function(name) -> value that reads environment variables for opts.
--- @param opts table|nil
--- @return fun(name: string): string|nil
function M.getenv(opts)
  local env = opts and opts.env
  if env == nil then return os_getenv end
  if type(env) == "function" then return env end
  return function(name) return env[name] end
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Parses an INI file of the AWS shared-file kind.
--- @param text string
--- @return table<string, table>
function M.parse(text)
  local sections, current, last_key = {}, nil, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local indented = line:match("^[ \t]") ~= nil
    local body = trim(line)
    local skip = body == "" or body:match("^[#;]") -- a blank line or a comment
    if skip then
      last_key = indented and last_key or nil
    elseif not indented and body:match("^%[.*%]$") then
      local name = trim(body:sub(2, -2))
      current = sections[name] or {}
      sections[name] = current
      last_key = nil
    elseif current then
      local key, value = body:match("^([^=]-)%s*=%s*(.*)$")
      if key then
        key = trim(key):lower()
        if indented and last_key and type(current[last_key]) == "table" then
          current[last_key][key] = value
        else
          -- `key =` with nothing after it opens a block of indented lines
          current[key] = value == "" and {} or value
          last_key = key
        end
      end
    end
  end
  return sections
end

local function read(path)
  local f = path and io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function expand(path, getenv)
  if path:sub(1, 2) == "~/" then
    local home = getenv("HOME") or ""
    return home .. path:sub(2)
  end
  return path
end

--- The paths of the two files for opts.
--- @param opts table|nil
--- @return string config, string credentials
function M.paths(opts)
  local getenv = M.getenv(opts)
  return expand(getenv("AWS_CONFIG_FILE") or "~/.aws/config", getenv),
    expand(getenv("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials", getenv)
end

--- Reads both files: the profiles, the services and sso-session sections,
--- and the profile in use (`profile`, {} when it is in neither file;
--- `explicit` when it was named by opts.profile or AWS_PROFILE).
--- @param opts table|nil
--- @return table
function M.load(opts)
  opts = opts or {}
  local getenv = M.getenv(opts)
  local config_path, cred_path = M.paths(opts)
  local profiles, services, sso, plain_default = {}, {}, {}, nil
  for name, sec in pairs(M.parse(read(config_path) or "")) do
    local prof = name:match("^profile%s+(.-)$")
    if prof then
      profiles[prof] = sec
    elseif name == "default" then
      plain_default = sec
    elseif name:match("^services%s+") then
      services[name:match("^services%s+(.-)$")] = sec
    elseif name:match("^sso%-session%s+") then
      sso[name:match("^sso%-session%s+(.-)$")] = sec
    end
  end
  -- [profile default] wins over [default] when both are there
  if plain_default and not profiles.default then profiles.default = plain_default end
  for name, sec in pairs(M.parse(read(cred_path) or "")) do
    local p = profiles[name] or {}
    for k, v in pairs(sec) do p[k] = v end
    profiles[name] = p
  end
  local name, explicit = opts.profile, opts.profile ~= nil
  if name == nil then
    name = getenv("AWS_PROFILE") or getenv("AWS_DEFAULT_PROFILE")
    explicit = name ~= nil
  end
  name = name or "default"
  return {
    profiles = profiles, services = services, sso_sessions = sso,
    profile_name = name, profile = profiles[name] or {}, explicit = explicit,
    exists = profiles[name] ~= nil,
    config_path = config_path, credentials_path = cred_path,
  }
end

--- The region: the client's, AWS_REGION, AWS_DEFAULT_REGION, the profile's.
--- @param opts table|nil
--- @return string|nil
function M.region(opts)
  if opts and opts.region then return opts.region end
  local getenv = M.getenv(opts)
  local r = getenv("AWS_REGION")
  if r and r ~= "" then return r end
  r = getenv("AWS_DEFAULT_REGION")
  if r and r ~= "" then return r end
  r = M.load(opts).profile.region
  if type(r) == "string" and r ~= "" then return r end
  return nil
end

local function truthy(v) return type(v) == "string" and v:lower() == "true" end

--- The endpoint the SDKs would use for `service_id` ("STS", "DynamoDB",
--- "Secrets Manager": the service's id; case and spaces do not matter),
--- or nil for the AWS endpoint.
--- @param service_id string
--- @param opts table|nil
--- @return string|nil
function M.endpoint(service_id, opts)
  if opts and opts.endpoint then return opts.endpoint end
  local getenv = M.getenv(opts)
  local cfg
  local function load()
    cfg = cfg or M.load(opts)
    return cfg
  end
  if truthy(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) then return nil end
  local env_name = "AWS_ENDPOINT_URL_" .. service_id:upper():gsub("[%s%-]+", "_")
  local e = getenv(env_name)
  if e and e ~= "" then return e end
  e = getenv("AWS_ENDPOINT_URL")
  if e and e ~= "" then return e end
  local profile = load().profile
  if truthy(profile.ignore_configured_endpoint_urls) then return nil end
  local services = type(profile.services) == "string" and cfg.services[profile.services]
  if services then
    local key = service_id:lower():gsub("[%s%-]+", "_")
    local block = services[key]
    if type(block) == "table" and block.endpoint_url and block.endpoint_url ~= "" then
      return block.endpoint_url
    end
  end
  e = profile.endpoint_url
  if type(e) == "string" and e ~= "" then return e end
  return nil
end

--- max_attempts: the client's, AWS_MAX_ATTEMPTS, the profile's.
--- @param opts table|nil
--- @return integer|nil
function M.max_attempts(opts)
  if opts and opts.max_attempts then return opts.max_attempts end
  local getenv = M.getenv(opts)
  local n = tonumber(getenv("AWS_MAX_ATTEMPTS") or "")
  if not n then n = tonumber(M.load(opts).profile.max_attempts or "") end
  n = n and math.tointeger(n)
  if n and n >= 1 then return n end
  return nil
end

return M
