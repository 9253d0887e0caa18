-- Copying a file through tide.pipe: a 4 MiB file is copied by path (the
-- pipe opens both files and closes them), with a progress bar fed by
-- on_progress, then its first 16 bytes are read back through a tide.file
-- and a second copy goes through a function sink that hashes each chunk
-- as it passes (back-pressure: the file is read only as fast as the sink
-- takes it, so memory stays bounded whatever the size).
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/file_copy.lua
-- or, after `luarocks make`: lua5.4 examples/file_copy.lua
local tide = require "tide"

local src, dst = os.tmpname(), os.tmpname()
local SIZE = 4 * 1024 * 1024

tide.run(function()
  local _ <close> = setmetatable({}, { __close = function()
    tide.all { tide.fs.remove(src), tide.fs.remove(dst) }:await()
  end })

  -- 4 MiB of a repeating 16-byte pattern, written through a tide.file.
  do
    local f <close> = tide.fs.open(src, "wb"):await()
    local block = ("0123456789abcdef"):rep(65536) -- 1 MiB
    for _ = 1, SIZE // #block do f:write(block) end -- queued in order
  end
  print(("source: %d bytes"):format(tide.fs.stat(src):await().size))

  local t0, last = tide.now(), -1
  local copied = tide.pipe(src, dst, {
    on_progress = function(bytes)
      local pct = bytes * 100 // SIZE
      if pct // 25 ~= last then
        last = pct // 25
        print(("  [%-20s] %3d%%"):format(("#"):rep(pct // 5), pct))
      end
    end,
  }):await()
  print(("copied %d bytes in %.0f ms"):format(copied, (tide.now() - t0) * 1000))

  local f <close> = tide.fs.open(dst, "rb"):await()
  print(("first bytes of the copy: %s; size %d"):format(f:read(16):await(), f:size():await()))

  -- A function sink: a running checksum of each chunk as it passes.
  f:seek("set", 0):await()
  local sum, chunks = 0, 0
  local n = tide.pipe(f, function(chunk)
    chunks = chunks + 1
    for i = 1, #chunk, 4096 do sum = (sum + chunk:byte(i)) % 65521 end
  end):await()
  print(("checksummed %d bytes in %d chunks: %d"):format(n, chunks, sum))
end)
