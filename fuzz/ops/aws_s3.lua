--- fuzz/ops/aws_s3.lua: operations for tide.aws's S3 client: the rest-xml
-- operations with random params (keys of any bytes, bodies as strings,
-- streams, files and bad values), get_object with stream/output, upload,
-- download and presign, against the local server (127.0.0.1 only: it
-- answers with JSON, which S3's XML parser must refuse cleanly), on
-- clients whose HTTP client the end of the run closes. Files are read and
-- written only inside the fuzzer's temporary directory.

return function(fz)
  local tide = fz.tide
  local op, call, P, rand, chance, choose = fz.op, fz.call, fz.P, fz.rand, fz.chance, fz.choose
  local sig_opts, BASE, TMP = fz.sig_opts, fz.BASE, fz.TMP
  local ok_aws, aws = pcall(require, "tide.aws")
  if not ok_aws then return end -- lua-expat missing: nothing to fuzz here

  local CREDS = { access_key_id = "AKIDFUZZ", secret_access_key = "fuzz" }
  local endpoint = (BASE or "http://127.0.0.1:1") .. "/api/fast"

  local clients = {}
  local function client()
    if #clients < 3 and (#clients == 0 or chance(0.1)) then
      local http = tide.http.client { timeout = 2 }
      fz.all_clients[http] = true
      clients[#clients + 1] = aws.s3 { region = choose { "us-east-1", "eu-west-3" }, endpoint = endpoint,
                                       credentials = CREDS, http = http, max_attempts = rand(2),
                                       force_path_style = chance(0.5) }
    end
    return choose(clients)
  end

  local function key()
    return choose { "k", "dir/a b+c%d ü.txt", "/lead", "", ("k"):rep(1025), "x\0y", "../up", P() }
  end

  local function body()
    local r = rand(7)
    if r == 1 then return ("b"):rep(rand(100)) end
    if r == 2 then return tide.stream.from { "ab", "cd" } end
    if r == 3 then return { file = TMP .. "/" .. choose { "a", "big", "missing", "d" } } end
    if r == 4 then return function() return nil end end
    if r == 5 then return { file = P() } end
    if r == 6 then
      return { file = TMP .. "/" .. choose { "a", "big", "missing" }, offset = choose { 0, 3, 1 << 40, -1, 0.5, P() } }
    end
    return P()
  end

  local function params()
    return { Bucket = choose { "fuzz-bucket", "b", "my.bucket", "", P() }, Key = key(), Body = body(),
             ContentLength = choose { nil, 4, -1, 1.5 }, Metadata = choose { nil, { a = "1" }, { ["bad name"] = 1 },
             P() }, ContentType = choose { nil, "text/plain", P() } }
  end

  local OPERATIONS = { "list_buckets", "create_bucket", "delete_bucket", "head_bucket", "put_object", "get_object",
                       "head_object", "delete_object", "delete_objects", "copy_object", "list_objects_v2",
                       "create_multipart_upload", "upload_part", "complete_multipart_upload",
                       "abort_multipart_upload", "list_multipart_uploads" }

  op("aws s3 call", 3, function()
    local c = client()
    local name = choose(OPERATIONS)
    local p = chance(0.8) and params() or P()
    if type(p) == "table" and chance(0.3) then
      p.UploadId, p.PartNumber = choose { "u", P() }, choose { 1, 0, 10001, P() }
      p.CopySource = choose { "b/k", { Bucket = "b", Key = "k" }, P() }
      p.Delete = choose { { Objects = { { Key = "k" } } }, { Objects = {} }, P() }
      p.MultipartUpload = choose { { Parts = { { PartNumber = 1, ETag = '"e"' } } }, P() }
    end
    if name == "get_object" and type(p) == "table" then
      if chance(0.3) then p.stream = true end
      if chance(0.3) then
        p.output = choose { TMP .. "/s3-out", { file = TMP .. "/s3-out", offset = choose { 0, 7, -1 } }, "", 42 }
      end
    end
    local f = c[name]
    call("aws s3:" .. name, f, c, p, chance(0.5) and sig_opts() or nil)
  end)

  op("aws s3:upload", 1, function()
    local c = client()
    local t = params()
    t.part_size = choose { nil, 5 * 1024 * 1024, 1024, 0, P() }
    t.concurrency = choose { nil, 1, 3, 0, P() }
    if chance(0.3) then t.on_progress = function() end end
    local so = chance(0.3) and sig_opts() or nil
    if type(so) == "table" then t.signal = so.signal end
    call("aws s3:upload", c.upload, c, chance(0.9) and t or P())
  end)

  op("aws s3:download", 1, function()
    local c = client()
    local t = { Bucket = "fuzz-bucket", Key = key(), output = choose { TMP .. "/s3-down", "", P() },
                concurrency = choose { nil, 2, 0 }, part_size = choose { nil, 1024, P() } }
    call("aws s3:download", c.download, c, chance(0.9) and t or P())
  end)

  op("aws s3:presign", 1, function()
    local c = client()
    call("aws s3:presign", c.presign, c, choose { "get_object", "put_object", "head_object", "list_buckets", P() },
      chance(0.9) and params() or P(), choose { nil, { expires = choose { 1, 900, 0, 604801, 1.5, P() } }, P() })
  end)
end
