-- tide.aws's S3 client against real servers on 127.0.0.1: s3rver (any
-- signature; the operations, bodies, transfers, presigned URLs), moto with
-- its IAM checks on (signatures verified; multipart aborts checked with
-- list_multipart_uploads; AccessDenied), and botocore as an independent
-- client (what tide writes it reads byte for byte, and the reverse).
-- Addressing and bad input need no server.
local helper = require "spec.helper"
local tide = require "tide"
local aws = require "tide.aws"
local awsenv = require "spec.support.aws"
local s3support = require "spec.support.s3"

local MiB = 1024 * 1024
local CREDS = { access_key_id = "AKIDTIDETEST", secret_access_key = "tide-test-secret" }

-- Bytes that show any misplaced or repeated range: each 16-byte line has
-- its own number.
local function pattern_bytes(n)
  local lines = {}
  for i = 1, n // 16 do lines[i] = ("%015d\n"):format(i) end
  return table.concat(lines) .. ("x"):rep(n % 16)
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

describe("tide.aws.s3 without a server (or on the scripted responder)", function()
  local faults -- the scripted responder, for one test
  teardown(function() if faults then faults.stop() end end)
  helper.setup()

  local function client(opts)
    opts = opts or {}
    opts.region = opts.region or "us-west-2"
    opts.credentials = CREDS
    opts.max_attempts = 1
    return aws.s3(opts)
  end

  it("addresses AWS endpoints virtual-hosted, others path-style", function()
    local s3 <close> = client()
    assert.equal("tide.aws.client (S3, us-west-2, https://s3.us-west-2.amazonaws.com)", tostring(s3))
    local url = s3:presign("get_object", { Bucket = "my-bucket", Key = "a/b c.txt" })
    assert.matches("^https://my%-bucket%.s3%.us%-west%-2%.amazonaws%.com/a/b%%20c%.txt%?X%-Amz%-Algorithm=", url)
    -- A bucket with dots cannot be a host label under https.
    url = s3:presign("get_object", { Bucket = "my.bucket", Key = "k" })
    assert.matches("^https://s3%.us%-west%-2%.amazonaws%.com/my%.bucket/k%?", url)
    local forced <close> = client({ force_path_style = true })
    url = forced:presign("get_object", { Bucket = "my-bucket", Key = "k" })
    assert.matches("^https://s3%.us%-west%-2%.amazonaws%.com/my%-bucket/k%?", url)
    local custom <close> = client({ endpoint = "http://localhost:9000" })
    url = custom:presign("put_object", { Bucket = "my-bucket", Key = "k" })
    assert.matches("^http://localhost:9000/my%-bucket/k%?", url)
  end)

  it("escapes keys as S3 expects, '/' kept", function()
    local s3 <close> = client({ endpoint = "http://127.0.0.1:9" })
    local url = s3:presign("get_object", { Bucket = "b-1", Key = "dir/a b+c%d ü~_.-!*'().txt" })
    assert.equal("http://127.0.0.1:9/b-1/dir/a%20b%2Bc%25d%20%C3%BC~_.-%21%2A%27%28%29.txt",
      url:match("^[^?]*"))
  end)

  it("presign makes a URL with no I/O; x-amz-* headers go into its query", function()
    local s3 <close> = client({ endpoint = "http://127.0.0.1:9" })
    local url = s3:presign("put_object", { Bucket = "b-1", Key = "k", Metadata = { Color = "red" } },
      { expires = 60 })
    assert.matches("X%-Amz%-Expires=60", url)
    assert.matches("x%-amz%-meta%-color=red", url)
    assert.matches("X%-Amz%-Signature=%x+$", url)
    assert.equal(0, #tide.tasks())
  end)

  it("hashes a body kept in pieces as one (the payload hash of a part)", function()
    local sign = require "tide.aws.sign"
    assert.equal(sign.sha256("abcdef"), sign.sha256({ "ab", "", "cdef" }))
    assert.equal(sign.sha256(""), sign.sha256({}))
    local ok, err = pcall(sign.sha256, { "a", 1 })
    assert.is_false(ok)
    assert.matches("piece 2 is not a string", err)
  end)

  it("hashes a byte range of a file in libuv's thread pool (core.sigv4_sha256_file)", function()
    local sign = require "tide.aws.sign"
    local core = require "tide.core"
    local dir = helper.tmpdir()
    local data = pattern_bytes(3 * MiB + 17)
    local fds = helper.open_fds()
    helper.run(function()
      tide.fs.write(dir .. "/h.bin", data):await()
      local fd = core.fs_open(dir .. "/h.bin", "r"):await()
      assert.equal(sign.sha256(data), core.sigv4_sha256_file(fd, 0, #data):await())
      assert.equal(sign.sha256(data:sub(1001, 2 * MiB)), core.sigv4_sha256_file(fd, 1000, 2 * MiB - 1000):await())
      assert.equal(sign.sha256(""), core.sigv4_sha256_file(fd, #data, 0):await())
      local err = helper.rejection(core.sigv4_sha256_file(fd, 10, #data, dir .. "/h.bin"))
      assert.equal("fs", err.kind)
      assert.equal("EIO", err.code)
      assert.matches("ends before the range", err.message)
      local p = core.sigv4_sha256_file(fd, 0, #data)
      p:cancel()
      assert.equal("cancelled", helper.rejection(p).kind)
      core.fs_close_now(fd)
      err = helper.rejection(core.sigv4_sha256_file(fd, 0, 1))
      assert.equal("EBADF", err.code)
    end)
    helper.wait_for(function() return helper.open_fds() <= fds end)
    assert.equal(fds, helper.open_fds())
    os.execute("rm -rf " .. dir)
  end)

  it("parses listings into typed fields; EncodingType = url keys decoded", function()
    local restxml = require "tide.aws.restxml"
    local body = [[<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>a%2Fb+c</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>
<NextContinuationToken>tok</NextContinuationToken>
<Contents><Key>a%2Fb+c%25%C3%BC</Key><LastModified>2026-12-02T03:34:05.500Z</LastModified>
<ETag>&quot;e1&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>x</Key><LastModified>2026-12-02T03:34:05.000Z</LastModified><ETag>"e2"</ETag><Size>0</Size>
</Contents><CommonPrefixes><Prefix>p%2F</Prefix></CommonPrefixes></ListBucketResult>]]
    local out = restxml.parse("ListObjectsV2", { status = 200, body = body, headers = {} })
    assert.equal("a/b c", out.Prefix)
    assert.equal(2, out.KeyCount)
    assert.is_true(out.IsTruncated)
    assert.equal("tok", out.NextContinuationToken)
    assert.equal("a/b c%ü", out.Contents[1].Key)
    assert.equal(1796182445.5, out.Contents[1].LastModified)
    assert.equal(1796182445, out.Contents[2].LastModified)
    assert.equal("integer", math.type(out.Contents[2].LastModified))
    assert.equal('"e1"', out.Contents[1].ETag)
    assert.equal(12, out.Contents[1].Size)
    assert.equal("p/", out.CommonPrefixes[1].Prefix)
    local empty = restxml.parse("ListObjectsV2", { status = 200, headers = {},
      body = "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount></ListBucketResult>" })
    assert.same({}, { table.unpack(empty.Contents) })
    assert.equal("[]", tide.json.encode(empty.Contents))
    -- A 200 with an <Error> body (a failed copy) is an aws error.
    local ok, err = pcall(restxml.parse, "CopyObject", { status = 200, headers = {},
      body = "<Error><Code>InternalError</Code><Message>try again</Message></Error>" })
    assert.is_false(ok)
    assert.equal("InternalError", err.code)
    assert.is_true(err.retryable)
  end)

  it("a 200 answer with an <Error> is an aws error, retried when it may be", function()
    faults = awsenv.faults()
    local function s3_at(path, attempts)
      return aws.s3 { region = "us-east-1", endpoint = faults.url .. path, credentials = CREDS,
                      max_attempts = attempts }
    end
    local key = helper.key("e200"):gsub("[^%w]", "")
    local s3 <close> = s3_at("/s3-error-200/" .. key .. "/1", 3)
    local once <close> = s3_at("/s3-error-200/" .. key .. "x/5", 1)
    helper.run(function()
      local out = s3:copy_object({ Bucket = "b-1", Key = "k", CopySource = "b-1/src" }):await()
      assert.equal('"abc"', out.CopyObjectResult.ETag)
      assert.equal(2, out.metadata.attempts)
      local err = helper.rejection(once:copy_object({ Bucket = "b-1", Key = "k", CopySource = "b-1/src" }))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("InternalError", err.code)
      assert.equal(200, err.status)
      assert.equal("rid-1", err.request_id)
      assert.is_true(err.retryable)
      assert.equal("aws: S3 CopyObject: InternalError: We encountered an internal error. (HTTP 200)", tostring(err))
    end)
  end)

  it("bad input is a usage error before any request", function()
    local s3 <close> = client({ endpoint = "http://127.0.0.1:9" })
    local function usage(fn)
      local err = helper.raised(fn)
      assert.is_true(tide.is_error(err, "usage"), tostring(err))
      return err.message
    end
    assert.matches("at most 1024", usage(function()
      return s3:put_object { Bucket = "b-1", Key = ("k"):rep(1025), Body = "" }
    end))
    assert.matches("part_size 1048576 is under S3's least part size", usage(function()
      return s3:upload { Bucket = "b-1", Key = "k", Body = "x", part_size = MiB }
    end))
    assert.matches("needs ContentLength", usage(function()
      return s3:put_object { Bucket = "b-1", Key = "k", Body = tide.stream.from { "a" } }
    end))
    assert.matches("needs Bucket", usage(function() return s3:get_object { Key = "k" } end))
    assert.matches("unknown param 'stram'", usage(function()
      return s3:get_object { Bucket = "b-1", Key = "k", stram = true }
    end))
    assert.matches("expires must be", usage(function()
      return s3:presign("get_object", { Bucket = "b-1", Key = "k" }, { expires = 0 })
    end))
    assert.equal("tide.aws.s3:upload: unknown option 'sigal'", usage(function()
      return s3:upload { Bucket = "b-1", Key = "k", Body = "x", sigal = true }
    end))
    -- A missing file: the promise rejects with a usage error and nothing
    -- is sent (nothing listens at 127.0.0.1:9 anyway: a request would be a
    -- network error).
    helper.run(function()
      local dir = helper.tmpdir()
      for _, p in ipairs {
        s3:put_object { Bucket = "b-1", Key = "k", Body = { file = dir .. "/missing" } },
        s3:upload { Bucket = "b-1", Key = "k", Body = { file = dir .. "/missing" } },
      } do
        local err = helper.rejection(p)
        assert.is_true(tide.is_error(err, "usage"), tostring(err))
        assert.matches("missing", err.message)
      end
    end)
  end)
end)

describe("tide.aws.s3 with s3rver", function()
  local env
  setup(function() env = s3support.start() end)
  teardown(function() env.stop() end)
  helper.setup()

  local function client(opts)
    opts = opts or {}
    opts.region, opts.endpoint = "us-east-1", env.s3
    opts.credentials = { access_key_id = env.key, secret_access_key = env.secret }
    opts.max_attempts = opts.max_attempts or 2
    return aws.s3(opts)
  end

  local function bucket_name(s3, prefix)
    local name = (prefix or "b") .. "-" .. helper.key(""):lower():gsub("[^a-z0-9]", "-"):gsub("%-+", "-")
    name = name:sub(1, 50):gsub("%-$", "")
    s3:create_bucket({ Bucket = name }):await()
    return name
  end

  it("buckets: create, head, list, delete; waiters", function()
    local s3 <close> = client()
    helper.run(function()
      local name = bucket_name(s3)
      local created = s3:create_bucket({ Bucket = name .. "-2" }):await()
      assert.equal("/" .. name .. "-2", created.Location)
      assert.equal(200, s3:head_bucket({ Bucket = name }):await().metadata.status)
      local names = {}
      for _, b in ipairs(s3:list_buckets({}):await().Buckets) do
        names[b.Name] = true
        assert.is_number(b.CreationDate)
      end
      assert.is_true(names[name])
      s3:delete_bucket({ Bucket = name .. "-2" }):await()
      local w = { min_delay = 0.01, max_delay = 0.05, max_wait = 5 }
      assert.equal("success", s3:wait_until("bucket_exists", { Bucket = name }, w):await().state)
      assert.equal("success", s3:wait_until("bucket_not_exists", { Bucket = name .. "-2" }, w):await().state)
      local err = helper.rejection(s3:head_bucket({ Bucket = name .. "-2" }))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal(404, err.status)
      assert.equal("NotFound", err.code)
      err = helper.rejection(s3:list_objects_v2({ Bucket = name .. "-2" }))
      assert.equal("NoSuchBucket", err.code)
      assert.equal("S3", err.service)
      assert.equal("ListObjectsV2", err.operation)
    end)
  end)

  it("objects: put and get with metadata and typed fields; keys round-trip", function()
    local s3 <close> = client()
    helper.run(function()
      local b = bucket_name(s3)
      local keys = { "plain.txt", "dir/sub/a b.txt", "plus+sign", "100% sure", "ünïcødé/日本.txt", "tilde~(x)!" }
      for i, key in ipairs(keys) do
        local put = s3:put_object({ Bucket = b, Key = key, Body = "body " .. i, ContentType = "text/plain",
                                    Metadata = { Color = "red", ["n-" .. i] = i } }):await()
        assert.matches('^"%x+"$', put.ETag)
        local got = s3:get_object({ Bucket = b, Key = key }):await()
        assert.equal("body " .. i, got.Body)
        assert.equal(put.ETag, got.ETag)
        assert.equal("text/plain", got.ContentType)
        assert.equal(#("body " .. i), got.ContentLength)
        assert.equal("integer", math.type(got.ContentLength))
        assert.equal("integer", math.type(got.LastModified))
        assert.is_true(math.abs(got.LastModified - os.time()) < 600)
        assert.same({ color = "red", ["n-" .. i] = tostring(i) }, got.Metadata)
        local head = s3:head_object({ Bucket = b, Key = key }):await()
        assert.equal(got.ContentLength, head.ContentLength)
        assert.is_nil(head.Body)
      end
      local listed = s3:list_objects_v2({ Bucket = b }):await()
      assert.equal(#keys, listed.KeyCount)
      assert.is_false(listed.IsTruncated)
      local seen = {}
      for _, o in ipairs(listed.Contents) do
        seen[o.Key] = true
        assert.equal("integer", math.type(o.Size))
      end
      for _, key in ipairs(keys) do assert.is_true(seen[key], key) end
      local err = helper.rejection(s3:get_object({ Bucket = b, Key = "missing" }))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("NoSuchKey", err.code)
      assert.equal(404, err.status)
      assert.is_false(err.retryable)
      err = helper.rejection(s3:get_object({ Bucket = b .. "-none", Key = "k" }))
      assert.equal("NoSuchBucket", err.code)
      local w = { min_delay = 0.01, max_delay = 0.05, max_wait = 5 }
      assert.equal("success", s3:wait_until("object_exists", { Bucket = b, Key = keys[2] }, w):await().state)
      assert.equal("success", s3:wait_until("object_not_exists", { Bucket = b, Key = "missing" }, w):await().state)
      -- An object that appears while the waiter polls.
      local waiting = s3:wait_until("object_exists", { Bucket = b, Key = "later" }, w)
      tide.sleep(0.05):await()
      s3:put_object({ Bucket = b, Key = "later", Body = "now" }):await()
      local done = waiting:await()
      assert.equal("success", done.state)
      assert.is_true(done.attempts > 1)
    end)
  end)

  it("copy, delete and delete_objects", function()
    local s3 <close> = client()
    helper.run(function()
      local b = bucket_name(s3)
      s3:put_object({ Bucket = b, Key = "src/a b", Body = "copied", Metadata = { k = "v" } }):await()
      local c = s3:copy_object({ Bucket = b, Key = "dst/a b", CopySource = b .. "/src/a b" }):await()
      assert.matches('^"%x+"$', c.CopyObjectResult.ETag)
      assert.equal("integer", math.type(c.CopyObjectResult.LastModified))
      assert.equal("copied", s3:get_object({ Bucket = b, Key = "dst/a b" }):await().Body)
      s3:copy_object({ Bucket = b, Key = "dst/c", CopySource = { Bucket = b, Key = "src/a b" } }):await()
      s3:delete_object({ Bucket = b, Key = "dst/c" }):await()
      local d = s3:delete_objects({ Bucket = b, Delete = { Objects = { { Key = "src/a b" }, { Key = "dst/a b" } } } })
        :await()
      assert.equal(2, #d.Deleted)
      assert.equal(0, #d.Errors)
      assert.equal(0, s3:list_objects_v2({ Bucket = b }):await().KeyCount)
    end)
  end)

  it("paginates list_objects_v2 with continuation tokens, lazily", function()
    local s3 <close> = client()
    helper.run_slow(function()
      local b = bucket_name(s3)
      for i = 1, 7 do s3:put_object({ Bucket = b, Key = ("p/%02d"):format(i), Body = "x" }):await() end
      local keys = {}
      for obj in s3:paginate("list_objects_v2", { Bucket = b, Prefix = "p/", MaxKeys = 3 }):items("Contents") do
        keys[#keys + 1] = obj.Key
      end
      assert.same({ "p/01", "p/02", "p/03", "p/04", "p/05", "p/06", "p/07" }, keys)
      local pages = 0
      for page in s3:paginate("list_objects_v2", { Bucket = b, MaxKeys = 3 }) do
        pages = pages + 1
        assert.equal(3, page.MaxKeys)
        if pages == 2 then break end
      end
      assert.equal(2, pages)
      -- The default list of items is Contents.
      local n = 0
      for _ in s3:paginate("list_objects_v2", { Bucket = b, MaxKeys = 4 }):items() do n = n + 1 end
      assert.equal(7, n)
    end, 20)
  end)

  it("get_object stream = true gives Body as a stream; output = path writes a file", function()
    local s3 <close> = client()
    local dir = helper.tmpdir()
    helper.run_slow(function()
      local b = bucket_name(s3)
      local data = pattern_bytes(3 * MiB + 5)
      s3:put_object({ Bucket = b, Key = "big", Body = data }):await()
      local got = s3:get_object({ Bucket = b, Key = "big", stream = true }):await()
      assert.equal(#data, got.ContentLength)
      local parts, biggest = {}, 0
      for chunk in got.Body do
        parts[#parts + 1] = chunk
        if #chunk > biggest then biggest = #chunk end
      end
      assert.is_true(#parts > 1)
      assert.is_true(biggest < MiB, "a chunk of " .. biggest .. " bytes")
      assert.equal(data, table.concat(parts))
      local out = s3:get_object({ Bucket = b, Key = "big", output = dir .. "/big.out" }):await()
      assert.is_nil(out.Body)
      assert.equal(#data, out.ContentLength)
      assert.equal(data, tide.fs.read(dir .. "/big.out"):await())
      -- An error is not written to the file.
      local err = helper.rejection(s3:get_object({ Bucket = b, Key = "none", output = dir .. "/none.out" }))
      assert.equal("NoSuchKey", err.code)
      assert.is_false(tide.fs.exists(dir .. "/none.out"):await())
      -- ... nor over an existing one; a tide.file and {file =, offset =} are written in C too
      tide.fs.write(dir .. "/keep.out", "precious"):await()
      err = helper.rejection(s3:get_object({ Bucket = b, Key = "none", output = dir .. "/keep.out" }))
      assert.equal("NoSuchKey", err.code)
      assert.equal(404, err.status)
      assert.equal("precious", tide.fs.read(dir .. "/keep.out"):await())
      do
        local f <close> = tide.fs.open(dir .. "/keep.out", "r+"):await()
        out = s3:get_object({ Bucket = b, Key = "big", Range = "bytes=0-9", output = { file = f, offset = 3 } }):await()
        assert.equal(10, out.bytes)
        out = s3:get_object({ Bucket = b, Key = "big", output = f }):await()
        assert.equal(#data, out.bytes)
      end
      assert.equal(data, tide.fs.read(dir .. "/keep.out"):await())
      err = helper.rejection(s3:get_object({ Bucket = b, Key = "none", stream = true }))
      assert.equal("NoSuchKey", err.code)
    end, 20)
  end)

  it("put_object takes a file, {file = path}, a list of strings and a stream with ContentLength", function()
    local s3 <close> = client()
    local dir = helper.tmpdir()
    helper.run_slow(function()
      local b = bucket_name(s3)
      local data = pattern_bytes(MiB + 3)
      tide.fs.write(dir .. "/in.bin", data):await()
      s3:put_object({ Bucket = b, Key = "from-path", Body = { file = dir .. "/in.bin" } }):await()
      assert.equal(data, s3:get_object({ Bucket = b, Key = "from-path" }):await().Body)
      local f <close> = tide.fs.open(dir .. "/in.bin", "rb"):await()
      f:seek("set", 10):await()
      s3:put_object({ Bucket = b, Key = "from-file", Body = f }):await()
      local got = s3:get_object({ Bucket = b, Key = "from-file" }):await()
      assert.equal(#data - 10, got.ContentLength)
      assert.equal(data:sub(11), got.Body)
      -- ContentLength takes the first bytes of a file.
      s3:put_object({ Bucket = b, Key = "head-of-file", Body = { file = dir .. "/in.bin" }, ContentLength = 100 })
        :await()
      assert.equal(data:sub(1, 100), s3:get_object({ Bucket = b, Key = "head-of-file" }):await().Body)
      s3:put_object({ Bucket = b, Key = "from-pieces", Body = { "ab", "", "cde" } }):await()
      assert.equal("abcde", s3:get_object({ Bucket = b, Key = "from-pieces" }):await().Body)
      s3:put_object({ Bucket = b, Key = "from-stream", Body = tide.stream.from { "ab", "cd", "e" },
                      ContentLength = 5 }):await()
      assert.equal("abcde", s3:get_object({ Bucket = b, Key = "from-stream" }):await().Body)
      local err = helper.rejection(s3:put_object({ Bucket = b, Key = "short",
                                                   Body = tide.stream.from { "ab" }, ContentLength = 5 }))
      assert.is_true(tide.is_error(err, "usage"), tostring(err))
    end, 20)
  end)

  it("file bodies are signed with their SHA-256 (hashed in C) and sent as byte ranges; streams unsigned", function()
    local sign = require "tide.aws.sign"
    local real = tide.http.client {}
    local sent = {}
    local recorder = { request = function(_, o)
      if o.method == "PUT" then
        sent[#sent + 1] = { hash = o.headers["x-amz-content-sha256"], body = o.body }
      end
      return real:request(o)
    end, close = function() real:close() end }
    local s3 <close> = client { http = recorder }
    local dir = helper.tmpdir()
    helper.run_slow(function()
      local b = bucket_name(s3)
      local data = pattern_bytes(6 * MiB + 11)
      tide.fs.write(dir .. "/in.bin", data):await()
      sent = {}
      s3:put_object({ Bucket = b, Key = "a", Body = { file = dir .. "/in.bin" } }):await()
      s3:put_object({ Bucket = b, Key = "b", Body = { file = dir .. "/in.bin", offset = 5 }, ContentLength = 1000 })
        :await()
      assert.equal(data:sub(6, 1005), s3:get_object({ Bucket = b, Key = "b" }):await().Body)
      local f <close> = tide.fs.open(dir .. "/in.bin", "rb"):await()
      f:seek("set", 7):await()
      s3:put_object({ Bucket = b, Key = "c", Body = f }):await()
      s3:put_object({ Bucket = b, Key = "d", Body = tide.stream.from { "ab" }, ContentLength = 2 }):await()
      assert.equal(sign.sha256(data), sent[1].hash)
      assert.same({ file = dir .. "/in.bin", offset = 0, length = #data }, sent[1].body)
      assert.equal(sign.sha256(data:sub(6, 1005)), sent[2].hash)
      assert.equal(sign.sha256(data:sub(8)), sent[3].hash)
      assert.equal("UNSIGNED-PAYLOAD", sent[4].hash)
      assert.equal(7, f:seek("cur"):await())
      -- s3:upload's parts: file ranges, each hash signed
      sent = {}
      s3:upload({ Bucket = b, Key = "e", Body = { file = dir .. "/in.bin" }, part_size = 5 * MiB }):await()
      table.sort(sent, function(x, y) return x.body.offset < y.body.offset end)
      assert.equal(2, #sent)
      assert.same({ file = dir .. "/in.bin", offset = 5 * MiB, length = MiB + 11 }, sent[2].body)
      assert.equal(sign.sha256(data:sub(1, 5 * MiB)), sent[1].hash)
      assert.equal(sign.sha256(data:sub(5 * MiB + 1)), sent[2].hash)
      assert.equal(data, s3:get_object({ Bucket = b, Key = "e" }):await().Body)
      -- a range past the end is a usage error before any request
      sent = {}
      local err = helper.rejection(s3:put_object({ Bucket = b, Key = "x", Body = { file = dir .. "/in.bin",
                                                   offset = #data - 1 }, ContentLength = 2 }))
      assert.is_true(tide.is_error(err, "usage"), tostring(err))
      assert.equal(0, #sent)
      real:close()
    end, 30)
  end)

  it("upload goes multipart above part_size, parts in parallel; download ranges into one file", function()
    local s3 <close> = client()
    local dir = helper.tmpdir()
    helper.run_slow(function()
      local b = bucket_name(s3)
      local data = pattern_bytes(21 * MiB + 7)
      tide.fs.write(dir .. "/big.bin", data):await()
      local reports, last_total = 0, nil
      local up = s3:upload({ Bucket = b, Key = "big/file.bin", Body = { file = dir .. "/big.bin" },
                             part_size = 5 * MiB, concurrency = 3, ContentType = "application/x-test",
                             on_progress = function(sent, total)
                               reports = reports + 1
                               last_total = total
                               assert.is_true(sent <= total)
                             end }):await()
      assert.equal(5, up.parts)
      assert.is_string(up.UploadId)
      assert.equal(5, reports)
      assert.equal(#data, last_total)
      local head = s3:head_object({ Bucket = b, Key = "big/file.bin" }):await()
      assert.equal(#data, head.ContentLength)
      assert.equal("application/x-test", head.ContentType)
      local progress = 0
      local down = s3:download({ Bucket = b, Key = "big/file.bin", output = dir .. "/copy.bin",
                                 part_size = 5 * MiB, concurrency = 3,
                                 on_progress = function(got) progress = got end }):await()
      assert.equal(#data, down.ContentLength)
      assert.equal(#data, progress)
      assert.equal(data, tide.fs.read(dir .. "/copy.bin"):await())
      -- Below part_size: one PUT (a string body, a stream of unknown size).
      local one = s3:upload({ Bucket = b, Key = "small", Body = "tiny" }):await()
      assert.is_nil(one.UploadId)
      assert.equal("tiny", s3:get_object({ Bucket = b, Key = "small" }):await().Body)
      s3:upload({ Bucket = b, Key = "streamed", Body = tide.stream.from { "a", "b" } }):await()
      assert.equal("ab", s3:get_object({ Bucket = b, Key = "streamed" }):await().Body)
    end, 60)
  end)

  it("presign: the URL works with plain tide.http, for GET and PUT, and expires", function()
    local s3 <close> = client()
    helper.run_slow(function()
      local b = bucket_name(s3)
      s3:put_object({ Bucket = b, Key = "a b/c.txt", Body = "presigned" }):await()
      local url = s3:presign("get_object", { Bucket = b, Key = "a b/c.txt" }, { expires = 1 })
      local res = tide.http.get(url):await()
      assert.equal(200, res.status)
      assert.equal("presigned", res.body)
      local put = s3:presign("put_object", { Bucket = b, Key = "up", Metadata = { via = "url" } })
      assert.equal(200, tide.http.put(put, { body = "sent by URL" }):await().status)
      local got = s3:get_object({ Bucket = b, Key = "up" }):await()
      assert.equal("sent by URL", got.Body)
      assert.equal("url", got.Metadata.via)
      tide.sleep(2.1):await()
      res = tide.http.get(url):await()
      assert.equal(403, res.status)
      assert.matches("<Code>AccessDenied</Code>", res.body)
      assert.matches("expired", res.body)
    end, 20)
  end)

  it("cancelling a call stops it", function()
    local s3 <close> = client()
    helper.run(function()
      local b = bucket_name(s3)
      local ctl = tide.abort_controller()
      local p = s3:put_object({ Bucket = b, Key = "k", Body = "x" }, { signal = ctl.signal })
      ctl:abort("stop")
      local ok, err = tide.pawait(p)
      assert.is_false(ok)
      assert.equal("stop", err)
    end)
  end)

  describe("and botocore", function()
    -- Runs `ops` (see spec/support/s3_botocore.py) in one botocore process.
    local function botocore(ops, dir)
      tide.fs.write(dir .. "/ops.json", tide.json.encode(ops)):await()
      local out, ok = capture(("%spython3 spec/support/s3_botocore.py %s %s %s < %s/ops.json 2>&1"):format(
        require("spec.support.servers").CLEAN_ENV, env.s3, env.key, env.secret, dir))
      assert(ok, out)
      return tide.json.decode(out:match("[^\n]*\n?$"))
    end

    it("reads what tide writes, and tide what it writes, byte for byte (multipart too)", function()
      local s3 <close> = client()
      local dir = helper.tmpdir()
      helper.run_slow(function()
        local b = bucket_name(s3)
        local bytes = {}
        for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
        local data = table.concat(bytes):rep(4097)
        local big = pattern_bytes(10 * MiB + 1)
        local keys = { "plain", "dir/a b+c%d ü.bin" }
        local ops = {}
        for i, key in ipairs(keys) do
          s3:put_object({ Bucket = b, Key = key, Body = data, Metadata = { from = "tide" } }):await()
          ops[#ops + 1] = { op = "get", bucket = b, key = key, path = ("%s/got%d"):format(dir, i) }
          tide.fs.write(("%s/put%d"):format(dir, i), data .. key):await()
          ops[#ops + 1] = { op = "put", bucket = b, key = key .. ".2", path = ("%s/put%d"):format(dir, i),
                            meta = { from = "botocore" } }
        end
        s3:upload({ Bucket = b, Key = "multi part", Body = big, part_size = 5 * MiB }):await()
        ops[#ops + 1] = { op = "get", bucket = b, key = "multi part", path = dir .. "/big" }
        local results = botocore(ops, dir)
        for i, key in ipairs(keys) do
          assert.equal(data, tide.fs.read(("%s/got%d"):format(dir, i)):await())
          assert.same({ from = "tide" }, results[2 * i - 1].Metadata)
          local got = s3:get_object({ Bucket = b, Key = key .. ".2" }):await()
          assert.equal(data .. key, got.Body)
          assert.same({ from = "botocore" }, got.Metadata)
          assert.equal(results[2 * i].ETag, got.ETag)
        end
        assert.equal(#big, results[#results].ContentLength)
        assert.equal(big, tide.fs.read(dir .. "/big"):await())
      end, 60)
    end)
  end)
end)

local available, why = awsenv.moto_available()

if not available then
  describe("tide.aws.s3 with moto", function()
    pending("needs moto_server: " .. why)
  end)
  return
end

-- moto's signature check refuses percent-escaped keys (even from boto3)
-- and answers presigned URLs with a 500 while its IAM checks are on: the
-- keys here are plain, and presigned URLs are checked on s3rver above.
describe("tide.aws.s3 with moto (signatures checked)", function()
  local moto
  setup(function() moto = assert(awsenv.moto()) end)
  teardown(function() moto.stop() end)
  helper.setup()

  local function client(creds)
    return aws.s3 { region = awsenv.REGION, endpoint = moto.endpoint, credentials = creds or moto.credentials,
                    max_attempts = 2 }
  end

  local function bucket_name(s3)
    local name = "m-" .. helper.key(""):lower():gsub("[^a-z0-9]", "-"):gsub("%-+", "-")
    name = name:sub(1, 50):gsub("%-$", "")
    s3:create_bucket({ Bucket = name }):await()
    return name
  end

  it("the operations, with signed payloads and metadata", function()
    local s3 <close> = client()
    helper.run_slow(function()
      local b = bucket_name(s3)
      local put = s3:put_object({ Bucket = b, Key = "dir/obj.txt", Body = "signed body",
                                  Metadata = { owner = "tide" }, ContentType = "text/plain" }):await()
      local got = s3:get_object({ Bucket = b, Key = "dir/obj.txt" }):await()
      assert.equal("signed body", got.Body)
      assert.equal(put.ETag, got.ETag)
      assert.same({ owner = "tide" }, got.Metadata)
      assert.equal("text/plain", got.ContentType)
      assert.equal(11, got.ContentLength)
      local dir = helper.tmpdir()
      tide.fs.write(dir .. "/f", "from a file"):await()
      s3:put_object({ Bucket = b, Key = "file", Body = { file = dir .. "/f" } }):await()
      assert.equal("from a file", s3:get_object({ Bucket = b, Key = "file" }):await().Body)
      s3:delete_object({ Bucket = b, Key = "file" }):await()
      s3:put_object({ Bucket = b, Key = "pieces", Body = { "signed ", "in ", "pieces" } }):await()
      assert.equal("signed in pieces", s3:get_object({ Bucket = b, Key = "pieces" }):await().Body)
      s3:delete_object({ Bucket = b, Key = "pieces" }):await()
      s3:put_object({ Bucket = b, Key = "streamed", Body = tide.stream.from { "un", "signed" },
                      ContentLength = 8 }):await()
      assert.equal("unsigned", s3:get_object({ Bucket = b, Key = "streamed" }):await().Body)
      s3:copy_object({ Bucket = b, Key = "copy", CopySource = b .. "/dir/obj.txt" }):await()
      local keys = {}
      for o in s3:paginate("list_objects_v2", { Bucket = b, MaxKeys = 1 }):items("Contents") do
        keys[#keys + 1] = o.Key
      end
      assert.same({ "copy", "dir/obj.txt", "streamed" }, keys)
      local d = s3:delete_objects({ Bucket = b, Delete = { Objects = { { Key = "copy" }, { Key = "streamed" } } } })
        :await()
      assert.equal(2, #d.Deleted)
      s3:delete_object({ Bucket = b, Key = "dir/obj.txt" }):await()
      local err = helper.rejection(s3:get_object({ Bucket = b, Key = "dir/obj.txt" }))
      assert.equal("NoSuchKey", err.code)
      assert.is_string(err.request_id)
      s3:delete_bucket({ Bucket = b }):await()
      err = helper.rejection(s3:list_objects_v2({ Bucket = b }))
      assert.equal("NoSuchBucket", err.code)
      local w = { min_delay = 0.01, max_delay = 0.05, max_wait = 5 }
      assert.equal("success", s3:wait_until("bucket_not_exists", { Bucket = b }, w):await().state)
    end, 30)
  end)

  it("a wrong secret is SignatureDoesNotMatch; a denied user AccessDenied", function()
    local s3 <close> = client()
    helper.run_slow(function()
      local b = bucket_name(s3)
      s3:put_object({ Bucket = b, Key = "k", Body = "x" }):await()
      local bad <close> = client({ access_key_id = moto.credentials.access_key_id, secret_access_key = "wrong" })
      local err = helper.rejection(bad:get_object({ Bucket = b, Key = "k" }))
      assert.equal("SignatureDoesNotMatch", err.code)
      assert.equal(403, err.status)
      local iam <close> = aws.client("iam", { protocol = "query", version = "2010-05-08", region = awsenv.REGION,
        endpoint = moto.endpoint, credentials = moto.credentials, max_attempts = 1 })
      local user = helper.key("u"):gsub("[^%w]", "")
      iam:create_user({ UserName = user }):await()
      local key = iam:create_access_key({ UserName = user }):await().AccessKey
      iam:put_user_policy({ UserName = user, PolicyName = "deny", PolicyDocument = tide.json.encode {
        Version = "2012-10-17",
        Statement = { { Effect = "Allow", Action = "s3:ListBucket", Resource = "*" },
                      { Effect = "Deny", Action = "s3:GetObject", Resource = "*" } } } }):await()
      local denied <close> = client({ access_key_id = key.AccessKeyId, secret_access_key = key.SecretAccessKey })
      err = helper.rejection(denied:get_object({ Bucket = b, Key = "k" }))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("AccessDenied", err.code)
      assert.equal(403, err.status)
      assert.is_false(err.retryable)
    end, 30)
  end)

  it("multipart: 20 MiB in 5 MiB parts; a failed or cancelled upload leaves no parts", function()
    local s3 <close> = client()
    helper.run_slow(function()
      local b = bucket_name(s3)
      local data = pattern_bytes(20 * MiB + 11)
      local up = s3:upload({ Bucket = b, Key = "big", Body = data, part_size = 5 * MiB, concurrency = 4 }):await()
      assert.equal(5, up.parts)
      assert.matches('%-5"$', up.ETag)
      local got = s3:get_object({ Bucket = b, Key = "big" }):await()
      assert.equal(#data, got.ContentLength)
      assert.equal(data, got.Body)
      -- A body that fails after two parts: the upload is aborted.
      local n = 0
      local failing = tide.stream.new(function()
        n = n + 1
        if n > 12 then error("the source broke") end
        return ("y"):rep(MiB)
      end)
      local ok, err = tide.pawait(s3:upload({ Bucket = b, Key = "broken", Body = failing, part_size = 5 * MiB }))
      assert.is_false(ok)
      assert.matches("the source broke", tostring(err))
      assert.equal(0, #s3:list_multipart_uploads({ Bucket = b }):await().Uploads)
      -- Cancelled while parts are in flight: aborted too.
      local ctl = tide.abort_controller()
      local p = s3:upload({ Bucket = b, Key = "cancelled", Body = data, part_size = 5 * MiB, concurrency = 2,
                            signal = ctl.signal,
                            on_progress = function() ctl:abort("enough") end })
      ok, err = tide.pawait(p)
      assert.is_false(ok)
      assert.equal("enough", err)
      -- The abort runs after the rejection: wait until it has.
      local uploads
      for _ = 1, 100 do
        uploads = s3:list_multipart_uploads({ Bucket = b }):await().Uploads
        if #uploads == 0 then break end
        tide.sleep(0.05):await()
      end
      assert.equal(0, #uploads)
      local err2 = helper.rejection(s3:head_object({ Bucket = b, Key = "cancelled" }))
      assert.equal("NotFound", err2.code)
    end, 90)
  end)
end)
