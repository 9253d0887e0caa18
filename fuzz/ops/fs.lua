--- fuzz/ops/fs.lua: operations for files: tide.fs, only inside the fuzzer's temporary directory.

local pack, unpack = table.pack, table.unpack

return function(fz)
  local tide = fz.tide
  local op, do_call, kind_of, sig_opts = fz.op, fz.do_call, fz.kind_of, fz.sig_opts
  local finding, fs_streams, rand, chance, choose = fz.finding, fz.fs_streams, fz.rand, fz.chance, fz.choose
  local TMP = fz.TMP

  -- Arguments

  local FS_NAMES = { "a", "b", "c.txt", "lines.txt", "big", "d", "d/e", "d/f", "d/f/g", "missing/x", "a/x", "new",
                     "z", "d/f/h.txt" }

  local function fs_path()
    if chance(0.92) then return TMP .. "/" .. choose(FS_NAMES) end
    return choose { 42, {}, true, TMP .. "/bad\0name", "\0", false }
  end

  -- Every string given to tide.fs as a path must be inside TMP (or hold a
  -- zero byte, which tide refuses): checked before every call.
  local function path_ok(p)
    if type(p) ~= "string" then return true end
    if p:find("\0", 1, true) then return true end
    return p:sub(1, #TMP + 1) == TMP .. "/" and not p:find("..", 1, true)
  end

  local function fs_opts()
    local r = rand(8)
    if r <= 3 then return nil end
    if r == 4 then return { recursive = true } end
    if r == 5 then return { recursive = chance(0.5), mode = choose { 448, 493, 0, -1, 0.5, "x", 4095 } } end
    return sig_opts()
  end

  local function fs_data()
    if chance(0.85) then return choose { "", "x", "hello\n", ("d"):rep(70000), "a\0b\r\n" } end
    return choose { 42, {}, true, nil }
  end


  -- Operations

  local FS_PATHS = { read = { 1 }, write = { 1 }, append = { 1 }, lines = { 1 }, stat = { 1 }, readdir = { 1 },
                     mkdir = { 1 }, remove = { 1 }, rename = { 1, 2 }, exists = { 1 } }

  local function fs_call(name, ...)
    local args = pack(...)
    for _, i in ipairs(FS_PATHS[name]) do
      if not path_ok(args[i]) then
        finding("fuzzer fs path", "the fuzzer built an fs path outside its directory: " .. tostring(args[i]))
        return
      end
    end
    local ok, r = do_call("fs." .. name, false, true, tide.fs[name], unpack(args, 1, args.n))
    if ok and name == "lines" and kind_of(r) == "stream" then fs_streams[r] = true end
  end

  op("fs", 8, function()
    local name = choose { "read", "write", "append", "lines", "stat", "readdir", "mkdir", "remove", "rename", "exists",
                          "read", "write", "lines", "exists" }
    if name == "write" or name == "append" then
      fs_call(name, fs_path(), fs_data(), fs_opts())
    elseif name == "rename" then
      fs_call(name, fs_path(), fs_path(), fs_opts())
    elseif name == "lines" then
      fs_call(name, fs_path())
    else
      fs_call(name, fs_path(), fs_opts())
    end
  end)
end
