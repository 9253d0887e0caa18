--- fuzz/lib/tmpdir.lua: the fuzzer's temporary directory, the only place it
-- makes files: a fresh tide-fuzz-XXXXXX under --tmp (/tmp), with a few files
-- in it. Sets fz.TMP; fz.remove_tmp() takes it away at the end.

return function(fz)
  local parent = (fz.cfg.tmp or "/tmp"):gsub("/+$", "")
  if not parent:match("^/[%w_./-]*$") or parent:find("..", 1, true) then
    io.stderr:write("api_fuzz: --tmp must be an absolute path of plain characters\n")
    os.exit(2)
  end
  local p = assert(io.popen("mktemp -d " .. parent .. "/tide-fuzz-XXXXXX"))
  local TMP = p:read("l")
  p:close()
  if not (TMP and TMP:sub(1, #parent + 1) == parent .. "/" and TMP:match("/tide%-fuzz%-[%w]+$")) then
    io.stderr:write("api_fuzz: cannot create a temporary directory\n")
    os.exit(2)
  end
  local function write(name, data)
    local f = assert(io.open(TMP .. "/" .. name, "wb"))
    f:write(data)
    f:close()
  end
  write("a", "alpha\n")
  write("c.txt", "")
  write("lines.txt", "one\ntwo\r\nthree\n\n" .. ("long"):rep(30000) .. "\nlast")
  write("big", ("0123456789abcdef"):rep(20000))
  os.execute("mkdir -p " .. TMP .. "/d/f")
  fz.TMP = TMP

  function fz.remove_tmp()
    os.execute("chmod -R u+rwX " .. TMP .. " 2>/dev/null; rm -rf " .. TMP)
  end
end
