#!/usr/bin/env python3
"""An independent S3 client for the interop specs (botocore, path-style).

    s3_botocore.py ENDPOINT KEY SECRET put BUCKET OBJECT-KEY FILE [META=VALUE...]
    s3_botocore.py ENDPOINT KEY SECRET get BUCKET OBJECT-KEY FILE

`put` stores FILE's bytes (with x-amz-meta-* from META=VALUE); `get`
writes the object's bytes to FILE and prints its metadata as JSON. The
object key is given hex-encoded (any bytes, through argv).
"""
import json
import sys

import botocore.session
from botocore.config import Config


def main():
    endpoint, key, secret, cmd, bucket, hexkey, path = sys.argv[1:8]
    objkey = bytes.fromhex(hexkey).decode("utf-8")
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    if cmd == "put":
        meta = dict(arg.split("=", 1) for arg in sys.argv[8:])
        with open(path, "rb") as f:
            body = f.read()
        res = client.put_object(Bucket=bucket, Key=objkey, Body=body, Metadata=meta)
        print(json.dumps({"ETag": res["ETag"]}))
    elif cmd == "get":
        res = client.get_object(Bucket=bucket, Key=objkey)
        with open(path, "wb") as f:
            f.write(res["Body"].read())
        print(json.dumps({"Metadata": res.get("Metadata", {}), "ETag": res["ETag"],
                          "ContentLength": res["ContentLength"]}))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
