#!/usr/bin/env python3
"""An HTTP server on 127.0.0.1 that checks AWS Signature Version 4 on every
request it gets, computing the signature itself from the AWS algorithm
(s3rver accepts any V4 signature, so it cannot tell a wrong one).

    sigv4.py SECRET          prints the port it listens on, then serves

Answers 200 "signature ok" when the Authorization header's signature is
right for SECRET, 403 with the canonical request it expected otherwise.
stdlib only."""
import hashlib
import hmac
import http.server
import sys
import urllib.parse

SECRET = sys.argv[1]


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def uri_encode(s, keep_slash):
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def expected_signature(method, raw_path, headers, body, auth):
    # Authorization: AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request,
    #                SignedHeaders=a;b, Signature=hex
    fields = dict(
        part.strip().split("=", 1) for part in auth.split(" ", 1)[1].split(",")
    )
    key_id, date, region, service, terminal = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    path, _, query = raw_path.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    canonical_query = "&".join(
        uri_encode(k, False) + "=" + uri_encode(v, False) for k, v in sorted(pairs)
    )
    canonical_uri = uri_encode(urllib.parse.unquote(path), True)
    lower = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    canonical_headers = "".join(f"{h}:{lower.get(h, '')}\n" for h in signed)
    payload = lower.get("x-amz-content-sha256") or sha256_hex(body)
    canonical = "\n".join([
        method, canonical_uri, canonical_query, canonical_headers,
        ";".join(signed), payload,
    ])
    scope = "/".join([date, region, service, terminal])
    amz_date = lower.get("x-amz-date", "")
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(canonical.encode())])
    k = sign(("AWS4" + SECRET).encode(), date)
    k = sign(k, region)
    k = sign(k, service)
    k = sign(k, terminal)
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), fields["Signature"], canonical


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def check(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            self.answer(403, "no SigV4 Authorization header")
            return
        want, got, canonical = expected_signature(
            self.command, self.path, self.headers, body, auth)
        if hmac.compare_digest(want, got):
            self.answer(200, "signature ok")
        else:
            self.answer(403, "signature mismatch; expected canonical request:\n" + canonical)

    def answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = check

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
