#!/usr/bin/env python3
"""Scripted AWS-style fault responder for tide.aws's retry specs (stdlib
only, 127.0.0.1 only).

    python3 spec/support/aws_faults.py [--parent PID]

Prints "PORT PID" once it listens; exits when process PID (default: its
parent) is gone. Every request is POST or GET to /<scenario>/<key>[/...];
`key` keeps the hit count of one test apart from the others. Answers are
JSON (the json protocol's error shape) unless the scenario says otherwise:

  /ok/<key>                 200 {"hits": n}
  /fail/<key>/<n>/<status>/<code>
                            `status` with {"__type": code} for the first n
                            hits, then 200 {"hits": n}; code "-" sends an
                            empty body
  /retry-after/<key>/<n>/<value>
                            503 with Retry-After: value for the first n hits
  /amz-retry-after/<key>/<n>/<ms>
                            503 with x-amz-retry-after: ms for the first n hits
  /query-error/<key>        400 with an XML ErrorResponse (query protocol)
  /skew/<key>/<offset>      the server's clock is `offset` seconds ahead:
                            a request whose X-Amz-Date is more than 5 min
                            from it gets 403 RequestTimeTooSkewed (with that
                            clock in Date); else 200 {"hits": n, "date": ...}
  /pages/<key>              200 {"hits": n, "Items": [n], "NextToken": "t<n>"}:
                            an endless paginated list
  /slow/<key>/<ms>          200 after ms milliseconds
  /echo/<key>               200 with JSON of the request (method, path,
                            query, headers, body)
  /s3-error-200/<key>/<n>/...
                            S3's late failure: 200 with an XML <Error>
                            (InternalError) for the first n hits, then 200
                            with a <CopyObjectResult>
"""
import calendar
import json
import os
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
hits = {}


def hit(key):
    with lock:
        hits[key] = hits.get(key, 0) + 1
        return hits[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        if any(name == "Date" for name, _ in headers):
            self.send_response_only(status)  # the scenario's own Date only
        else:
            self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "req-%d" % int(time.time() * 1000))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        scenario, key = parts[0], "/".join(parts[:2])
        n = hit(key)
        if scenario == "ok":
            return self.answer(200, {"hits": n})
        if scenario == "fail":
            times, status, code = int(parts[2]), int(parts[3]), parts[4]
            if n <= times:
                return self.answer(status, b"" if code == "-" else {"__type": code, "message": "scripted"})
            return self.answer(200, {"hits": n})
        if scenario in ("retry-after", "amz-retry-after"):
            times, value = int(parts[2]), parts[3]
            if n <= times:
                name = "Retry-After" if scenario == "retry-after" else "x-amz-retry-after"
                return self.answer(503, {"__type": "ServiceUnavailable"}, [(name, value)])
            return self.answer(200, {"hits": n})
        if scenario == "query-error":
            xml = ("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>"
                   "<Message>bad value</Message></Error><RequestId>rid-42</RequestId></ErrorResponse>")
            return self.answer(400, xml.encode(), [("Content-Type", "text/xml")])
        if scenario == "skew":
            now = time.time() + float(parts[2])
            stamp = self.headers.get("X-Amz-Date") or ""
            try:
                sent = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
            except ValueError:
                sent = 0
            if abs(sent - now) > 300:
                return self.answer(403, {"__type": "RequestTimeTooSkewed", "message": "skewed"},
                                   [("Date", formatdate(now, usegmt=True))])
            return self.answer(200, {"hits": n, "date": stamp})
        if scenario == "pages":
            return self.answer(200, {"hits": n, "Items": [n], "NextToken": "t%d" % n})
        if scenario == "slow":
            time.sleep(int(parts[2]) / 1000)
            return self.answer(200, {"hits": n})
        if scenario == "echo":
            return self.answer(200, {"method": self.command, "path": path, "query": query,
                                     "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body.decode("latin-1")})
        if scenario == "s3-error-200":
            if n <= int(parts[2]):
                xml = ("<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
                       "<RequestId>rid-%d</RequestId></Error>" % n)
            else:
                xml = ("<CopyObjectResult><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
                       "<ETag>&quot;abc&quot;</ETag></CopyObjectResult>")
            return self.answer(200, xml.encode(), [("Content-Type", "application/xml")])
        return self.answer(404, {"__type": "UnknownScenario"})

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    parent = os.getppid()
    if "--parent" in sys.argv:
        parent = int(sys.argv[sys.argv.index("--parent") + 1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], os.getpid(), flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)


main()
