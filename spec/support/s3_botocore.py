#!/usr/bin/env python3
"""An independent S3 client for the interop specs (botocore, path-style).

    s3_botocore.py ENDPOINT KEY SECRET < OPS.json

OPS is a JSON list of operations, run in order in this one process:
  {"op": "put", "bucket": B, "key": K, "path": FILE, "meta": {...}}
      stores FILE's bytes with x-amz-meta-* from meta
  {"op": "get", "bucket": B, "key": K, "path": FILE}
      writes the object's bytes to FILE
Prints a JSON list with one result per operation: the ETag (and for get
the Metadata and ContentLength).
"""
import json
import sys

import botocore.session
from botocore.config import Config


def main():
    endpoint, key, secret = sys.argv[1:4]
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    results = []
    for op in json.load(sys.stdin):
        if op["op"] == "put":
            with open(op["path"], "rb") as f:
                body = f.read()
            res = client.put_object(Bucket=op["bucket"], Key=op["key"], Body=body, Metadata=op.get("meta") or {})
            results.append({"ETag": res["ETag"]})
        elif op["op"] == "get":
            res = client.get_object(Bucket=op["bucket"], Key=op["key"])
            with open(op["path"], "wb") as f:
                f.write(res["Body"].read())
            results.append({"ETag": res["ETag"], "Metadata": res.get("Metadata", {}),
                            "ContentLength": res["ContentLength"]})
        else:
            sys.exit("unknown op " + op["op"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
