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
                     mkdir = { 1 }, remove = { 1 }, rename = { 1, 2 }, exists = { 1 }, open = { 1 } }

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
    if ok and name == "open" and (kind_of(r) == "promise" or kind_of(r) == "task") then
      r:next(function(f) fz.fs_files[f] = true end, function() end)
    end
  end

  local MODES = { "r", "w", "a", "r+", "w+", "a+", "rb", "wb+", "x", "", 7, "rw" }

  op("fs", 8, function()
    local name = choose { "read", "write", "append", "lines", "stat", "readdir", "mkdir", "remove", "rename", "exists",
                          "read", "write", "lines", "exists", "open", "open" }
    if name == "write" or name == "append" then
      fs_call(name, fs_path(), fs_data(), fs_opts())
    elseif name == "rename" then
      fs_call(name, fs_path(), fs_path(), fs_opts())
    elseif name == "lines" then
      fs_call(name, fs_path())
    elseif name == "open" then
      fs_call(name, fs_path(), chance(0.9) and choose(MODES) or nil, fs_opts())
    else
      fs_call(name, fs_path(), fs_opts())
    end
  end)

  -- The calls of files from tide.fs.open, with plausible and wrong arguments.
  local function a_file()
    local list = {}
    for f in pairs(fz.fs_files) do list[#list + 1] = f end
    if #list == 0 then return nil end
    return list[rand(#list)]
  end

  local function a_size()
    return chance(0.85) and choose { 1, 5, 4096, 70000 } or choose { 0, -1, 1.5, "x", 2 ^ 40 }
  end

  op("file", 6, function()
    local f = a_file()
    if not f then return end
    local m = choose { "read", "write", "seek", "size", "close", "chunks", "lines", "read", "write", "seek" }
    if m == "read" then
      do_call("file:read", false, true, f.read, f, a_size(), fs_opts())
    elseif m == "write" then
      do_call("file:write", false, true, f.write, f, fs_data(), fs_opts())
    elseif m == "seek" then
      do_call("file:seek", false, true, f.seek, f, choose { "set", "cur", "end", nil, "x" },
        choose { 0, 3, -2, 100, 1.5 }, fs_opts())
    elseif m == "size" or m == "close" then
      do_call("file:" .. m, false, true, f[m], f, fs_opts())
    else
      local ok, s = do_call("file:" .. m, false, true, f[m], f, m == "chunks" and a_size() or nil)
      if ok and kind_of(s) == "stream" then fs_streams[s] = true end
    end
  end)

  -- tide.pipe between the fuzzer's files, streams and sinks.
  op("pipe", 3, function()
    local src = choose { fs_path(), a_file() or fs_path(), tide.stream.from { "a", "bc" },
                         function() return nil end, 42 }
    local ch = tide.channel(1)
    local sink = choose { fs_path(), a_file() or fs_path(), ch, function() end, {} }
    for _, v in ipairs { src, sink } do
      if not path_ok(v) then
        finding("fuzzer fs path", "the fuzzer built a pipe path outside its directory: " .. tostring(v))
        return
      end
    end
    do_call("pipe", false, true, tide.pipe, src, sink, chance(0.5) and sig_opts() or nil)
    ch:close()
  end)
end
