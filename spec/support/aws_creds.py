#!/usr/bin/env python3
"""Stands in for the places AWS credentials come from, on 127.0.0.1, for
spec/aws_credentials_spec.lua: EC2 instance metadata (IMDSv2), the ECS
container endpoint and STS. stdlib only.

    aws_creds.py --parent PID      prints "PORT PID" once it listens

Answers:
  PUT  /latest/api/token                  a token (needs the TTL header)
  /v1only/latest/...                      IMDSv1: the token PUT is 405, the GETs need none
  GET  /latest/meta-data/iam/security-credentials/       "test-role" (needs the token)
  GET  /latest/meta-data/iam/security-credentials/test-role   credentials JSON
  GET  /ecs/creds                         credentials JSON (needs Authorization: ecs-secret)
  POST /  (STS, form body)                AssumeRole (needs a SigV4 Authorization with
                                          Credential=SOURCEKEY/...) and
                                          AssumeRoleWithWebIdentity (needs WebIdentityToken
                                          "web-token"); a RoleArn with "denied" in it: 403
                                          AccessDenied
  (AssumeRole of a RoleArn with "mfa" in it needs SerialNumber
   arn:aws:iam::123456789012:mfa/spec and TokenCode 123456, else 403)
  GET  /hits?key=K                        how many requests named K so far (K: imds-token,
                                          imds-role, imds-creds, ecs, sts-AssumeRole, ...)
  GET  /set?expires_in=S&delay=MS         credentials from now on expire S seconds after
                                          they are made; answers wait MS ms
Every set of credentials is numbered: AccessKeyId "ASIA<n>"."""
import datetime
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

lock = threading.Lock()
hits = {}
state = {"expires_in": 3600, "delay": 0, "n": 0}
TOKEN = "imds-token-1"


def count(key):
    with lock:
        hits[key] = hits.get(key, 0) + 1


def new_creds():
    with lock:
        state["n"] += 1
        n = state["n"]
        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=state["expires_in"])
    return {
        "AccessKeyId": f"ASIA{n}",
        "SecretAccessKey": f"secret-{n}",
        "Token": f"token-{n}",
        "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        delay = state["delay"]
        if delay:
            time.sleep(delay / 1000)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1only/latest/api/token":
            count("imds-token")
            return self.send(405, "", "text/plain")
        if self.path == "/latest/api/token":
            count("imds-token")
            if not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                return self.send(400, "no ttl", "text/plain")
            return self.send(200, TOKEN, "text/plain")
        self.send(404, "not found", "text/plain")

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        base = "/latest/meta-data/iam/security-credentials/"
        if url.path == "/hits":
            return self.send(200, str(hits.get(q.get("key"), 0)), "text/plain")
        if url.path == "/set":
            with lock:
                for k in ("expires_in", "delay"):
                    if k in q:
                        state[k] = int(q[k])
            return self.send(200, "ok", "text/plain")
        v1 = url.path.startswith("/v1only/")
        if v1:
            url = urlsplit(self.path[len("/v1only"):])
        if url.path.startswith(base):
            if not v1 and self.headers.get("x-aws-ec2-metadata-token") != TOKEN:
                return self.send(401, "no token", "text/plain")
            role = url.path[len(base):]
            if role == "":
                count("imds-role")
                return self.send(200, "test-role", "text/plain")
            if role == "test-role":
                count("imds-creds")
                c = new_creds()
                c.update(Code="Success", Type="AWS-HMAC")
                return self.send(200, json.dumps(c))
            return self.send(404, "no such role", "text/plain")
        if url.path == "/ecs/creds":
            count("ecs")
            if self.headers.get("Authorization") != "ecs-secret":
                return self.send(403, '{"message": "bad token"}')
            return self.send(200, json.dumps(new_creds()))
        self.send(404, "not found", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        action = form.get("Action", "")
        count("sts-" + action)
        if "denied" in form.get("RoleArn", ""):
            return self.send(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                             "<Message>not allowed</Message></Error><RequestId>req-denied</RequestId>"
                             "</ErrorResponse>", "text/xml")
        if "mfa" in form.get("RoleArn", "") and (form.get("SerialNumber") != "arn:aws:iam::123456789012:mfa/spec"
                                                 or form.get("TokenCode") != "123456"):
            return self.send(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                             "<Message>MFA code needed</Message></Error></ErrorResponse>", "text/xml")
        if action == "AssumeRole":
            auth = self.headers.get("Authorization") or ""
            if "Credential=SOURCEKEY/" not in auth or "/sts/aws4_request" not in auth:
                return self.send(403, "<ErrorResponse><Error><Code>InvalidClientTokenId</Code>"
                                 f"<Message>bad auth {auth}</Message></Error></ErrorResponse>", "text/xml")
        elif action == "AssumeRoleWithWebIdentity":
            if form.get("WebIdentityToken") != "web-token":
                return self.send(400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                                 "<Message>bad token</Message></Error></ErrorResponse>", "text/xml")
        else:
            return self.send(400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>",
                             "text/xml")
        c = new_creds()
        xml = (f"<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result>"
               f"<Credentials><AccessKeyId>{c['AccessKeyId']}</AccessKeyId>"
               f"<SecretAccessKey>{c['SecretAccessKey']}</SecretAccessKey>"
               f"<SessionToken>{c['Token']}</SessionToken><Expiration>{c['Expiration']}</Expiration>"
               f"</Credentials><AssumedRoleUser><Arn>{form.get('RoleArn')}</Arn></AssumedRoleUser>"
               f"</{action}Result><ResponseMetadata><RequestId>req-{c['AccessKeyId']}</RequestId>"
               f"</ResponseMetadata></{action}Response>")
        self.send(200, xml, "text/xml")


def watch(parent):
    while True:
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)


def main():
    parent = os.getppid()
    if "--parent" in sys.argv:
        parent = int(sys.argv[sys.argv.index("--parent") + 1])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=watch, args=(parent,), daemon=True).start()
    print(srv.server_address[1], os.getpid(), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
