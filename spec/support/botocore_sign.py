#!/usr/bin/env python3
"""Signs requests with botocore's SigV4 signer, for spec/aws_sign_spec.lua
to compare tide.aws.sign with.

    botocore_sign.py < cases.json > results.json

Each case: {method, url, headers: {name: value}, body, access_key_id,
secret_access_key, session_token (or null), region, service, amz_date
("YYYYMMDDTHHMMSSZ"), presign (seconds or null), unsigned_payload (bool)}.
Each result: {authorization, url, canonical, headers: {lowercase: value}}.
The signer's own steps are run with the case's timestamp instead of the
clock (what SigV4Auth.add_auth does after reading it)."""
import json
import sys

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def sign(case):
    body = (case.get("body") or "").encode("utf-8", "surrogateescape")
    req = AWSRequest(method=case["method"], url=case["url"], headers=case["headers"] or {}, data=body)
    creds = Credentials(case["access_key_id"], case["secret_access_key"], case.get("session_token"))
    s3 = case["service"] == "s3"
    if case.get("presign"):
        cls = S3SigV4QueryAuth if s3 else SigV4QueryAuth
        auth = cls(creds, case["service"], case["region"], expires=case["presign"])
    else:
        auth = (S3SigV4Auth if s3 else SigV4Auth)(creds, case["service"], case["region"])
    req.context["timestamp"] = case["amz_date"]
    if case.get("unsigned_payload"):
        req.context["payload_signing_enabled"] = False
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    sts = auth.string_to_sign(req, canonical)
    signature = auth.signature(sts, req)
    auth._inject_signature_to_request(req, signature)
    return {
        "authorization": req.headers.get("Authorization"),
        "url": req.url,
        "canonical": canonical,
        "headers": {k.lower(): v for k, v in req.headers.items()},
    }


def main():
    cases = json.load(sys.stdin)
    json.dump([sign(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
