#!/usr/bin/env python3
"""Raw TCP fault server for tide's HTTP specs (stdlib only, loopback only).

    python3 spec/support/faults.py [--port N] [--parent PID]

Listens on 127.0.0.1:P and 127.0.0.2:P (the same port on both, for
cross-host redirects), prints "P PID B" on one line once both accept, and serves
exact HTTP/1.1 (keep-alive unless the client sends "Connection: close"),
one thread per connection. It exits when process PID (default: its
parent) is gone.

Port B (127.0.0.1) is a black hole: its accept queue is full, so a connection
to it neither succeeds nor fails (for connect timeouts).

Endpoints (query strings as usual):
  /echo, /.../echo    JSON: method, path, query, args, headers (lowercased
                     names, repeated values joined with ", "), header_list,
                     body (latin-1 text; null past 4 MiB), body_len,
                     body_adler32, chunked, host, conn (connection number)
  /status/<n>        status n, body "status n\n" (none for 1xx/204/304)
  /headers           repeated Set-Cookie and X-Multi headers, mixed case
  /slow?ms=&key=     answers "slow" after ms milliseconds
  /never?key=        reads the request, never answers
  /drip?n=&ms=&key=  n body bytes ("a"..), one every ms milliseconds
  /reset             promises 1000 bytes, sends 500, resets (SO_LINGER 0)
  /malformed         a garbage status line
  /closed            closes the connection without answering
  /early             413 before reading the request body, then closes
  /big?mb=&chunked=1 mb MiB (at most 1024) of a 0..255 byte pattern,
                     generated on the fly; chunked=1: no Content-Length
  /gzip-bomb?mb=     Content-Encoding: gzip, mb MiB (at most 1024) of zeros
                     compressed to about a thousandth of that
  /chunked?n=        n lines "line <i>\n" sent chunked, one chunk each
  /redirect-other-host?to=/path   302 to the same port on 127.0.0.2
  /redirect?to=      302 to `to` (any string)
  /multipart         the multipart/form-data body parsed by the email
                     package: JSON {content_type, parts = [{name, filename,
                     content_type, len, adler32, data (latin-1; null past
                     64 KiB)}]}
  /set-cookie?v=     one Set-Cookie header per v (any string)
  /sse?key=&n=6&drop=2&retry=ms   an event stream: a BOM, a comment, retry
                     (if given), then events id i, "event i" (two data
                     lines) from Last-Event-ID + 1; after `drop` events
                     of one connection, half an event and the connection
                     closes; after event n, "done"/"bye" and it closes.
                     status= and ctype= change the answer.
  /sse-log?key=      JSON list of the Last-Event-ID headers /sse got (null: none)
  /count             connections accepted so far (this one included)
  /flaky?key=&fail=n&status=503   `status` for the first n hits of key, then 200;
                     retry_after=v adds "Retry-After: v" to the failures,
                     retry_after_date=s an HTTP date s seconds from now;
                     echo=1 adds " len=<body bytes> adler=<adler32>" to each answer
  /hits?key=         how many requests named key so far
  /state?key=        JSON {state = "open"|"closed"|"unknown", sent = bytes}
                     of the latest connection that served a request with key
                     ("closed" once the peer went away)
"""
import json
import os
import select
import socket
import struct
import sys
import threading
import time
import zlib
from email.parser import BytesParser
from email import policy as email_policy
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 64 * 1024
MAX_KEEP_BODY = 4 * 1024 * 1024
MAX_BODY = 1024 * 1024 * 1024
PATTERN = bytes(range(256)) * 256  # 64 KiB

lock = threading.Lock()
accepted = 0
hits = {}
states = {}  # key -> {"state":..., "sent":...}
port = 0


class Closed(Exception):
    pass


def reason(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Status"


class Conn:
    def __init__(self, sock, number):
        self.sock = sock
        self.number = number
        self.buf = b""
        self.key = None

    def recv_some(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_until(self, sep, limit):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(sep):]
                return out
            if len(self.buf) > limit:
                raise Closed()
            self.recv_some()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.recv_some()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.sock.sendall(data)
        if self.key is not None:
            with lock:
                states[self.key]["sent"] += len(data)


def read_request(c):
    head = c.read_until(b"\r\n\r\n", MAX_HEAD).decode("latin-1")
    lines = head.split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    header_list = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        header_list.append([name, value.strip()])
    headers = {}
    for name, value in header_list:
        k = name.lower()
        headers[k] = headers[k] + ", " + value if k in headers else value
    return method, target, version, header_list, headers


def read_body(c, headers):
    """Returns (kept body or None, length, adler32, chunked)."""
    if headers.get("expect", "").lower() == "100-continue":
        c.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    kept, n, adler = [], 0, 1

    def take(data):
        nonlocal n, adler
        n += len(data)
        if n > MAX_BODY:
            raise Closed()
        adler = zlib.adler32(data, adler)
        if n <= MAX_KEEP_BODY:
            kept.append(data)

    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if chunked:
        while True:
            size = int(c.read_until(b"\r\n", 1024).split(b";")[0], 16)
            if size == 0:
                while c.read_until(b"\r\n", MAX_HEAD):  # trailers, then an empty line
                    pass
                break
            left = size
            while left:
                piece = c.read_exact(min(left, 65536))
                take(piece)
                left -= len(piece)
            c.read_exact(2)
    else:
        left = int(headers.get("content-length", "0"))
        while left:
            if not c.buf:
                c.recv_some()
            piece = c.buf[:left]
            c.buf = c.buf[len(piece):]
            take(piece)
            left -= len(piece)
    body = b"".join(kept) if n <= MAX_KEEP_BODY else None
    return body, n, adler, chunked


def respond(c, code, body=b"", headers=(), close=False, ctype="text/plain"):
    if isinstance(body, str):
        body = body.encode()
    lines = ["HTTP/1.1 %d %s" % (code, reason(code))]
    if ctype and code not in (204, 304) and code >= 200:
        lines.append("Content-Type: " + ctype)
    for name, value in headers:
        lines.append("%s: %s" % (name, value))
    if code >= 200 and code not in (204, 304):
        lines.append("Content-Length: %d" % len(body))
    else:
        body = b""
    if close:
        lines.append("Connection: close")
    c.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


bombs = {}
sse_log = {}  # key -> Last-Event-ID headers of /sse requests


def gzip_bomb(mb):
    """mb MiB of zeros, gzip-compressed (made once per size)."""
    with lock:
        if mb not in bombs:
            z = zlib.compressobj(9, zlib.DEFLATED, 31)
            zeros = bytes(1024 * 1024)
            bombs[mb] = b"".join([z.compress(zeros) for _ in range(mb)] + [z.flush()])
        return bombs[mb]


def track(c, key):
    if key is None:
        return
    c.key = key
    with lock:
        states[key] = {"state": "open", "sent": 0}


def mark_closed(c):
    if c.key is not None:
        with lock:
            states[c.key]["state"] = "closed"


def wait_peer_close(c):
    """Blocks until the client closes the connection (or 10 minutes)."""
    deadline = time.time() + 600
    while time.time() < deadline:
        r, _, _ = select.select([c.sock], [], [], 0.5)
        if r:
            try:
                if not c.sock.recv(65536):
                    break
            except OSError:
                break
    mark_closed(c)


def handle(c, method, target, header_list, headers, body_info):
    """Serves one request; returns True to keep the connection open."""
    url = urlsplit(target)
    path = url.path
    args = {k: v for k, v in parse_qs(url.query, keep_blank_values=True).items()}

    def arg(name, default=None):
        return args[name][-1] if name in args else default

    key = arg("key")
    if key is not None and path not in ("/hits", "/state"):
        with lock:
            hits[key] = hits.get(key, 0) + 1
    close = headers.get("connection", "").lower() == "close"
    body, n, adler, chunked = body_info

    if path == "/echo" or path.endswith("/echo"):
        out = {
            "method": method, "path": path, "query": url.query,
            "args": args, "headers": headers, "header_list": header_list,
            "body": body.decode("latin-1") if body is not None else None,
            "body_len": n, "body_adler32": adler, "chunked": chunked,
            "host": c.sock.getsockname()[0], "conn": c.number,
        }
        respond(c, 200, json.dumps(out), ctype="application/json", close=close)
    elif path.startswith("/status/"):
        code = int(path[len("/status/"):])
        respond(c, code, "status %d\n" % code, close=close)
    elif path == "/headers":
        respond(c, 200, "headers\n", headers=[
            ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; HttpOnly"),
            ("X-Multi", "one"), ("x-multi", "two"), ("X-CamelCase", "Yes"),
        ], close=close)
    elif path == "/slow":
        track(c, key)
        time.sleep(int(arg("ms", "100")) / 1000)
        respond(c, 200, "slow\n", close=close)
    elif path == "/never":
        track(c, key)
        wait_peer_close(c)
        return False
    elif path == "/drip":
        track(c, key)
        count, ms = int(arg("n", "10")), int(arg("ms", "10"))
        c.send(("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                % count).encode())
        try:
            for i in range(count):
                time.sleep(ms / 1000)
                c.send(bytes([97 + i % 26]))
        except OSError:
            mark_closed(c)
            return False
    elif path == "/reset":
        c.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
               + b"x" * 500)
        time.sleep(0.05)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    elif path == "/malformed":
        c.send(b"HTTP/1.1 abc Garbage\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.05)
        return False
    elif path == "/closed":
        return False
    elif path == "/gzip-bomb":
        data = gzip_bomb(min(int(arg("mb", "100")), 1024))
        respond(c, 200, data, headers=[("Content-Encoding", "gzip")], close=close,
                ctype="application/octet-stream")
    elif path == "/big":
        track(c, key)
        size = min(int(arg("mb", "1")), 1024) * 1024 * 1024
        if arg("chunked") == "1":
            c.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
        else:
            c.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   b"Content-Length: %d\r\n\r\n" % size)
        try:
            left = size
            while left:
                piece = PATTERN[:min(left, len(PATTERN))]
                if arg("chunked") == "1":
                    c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    c.send(piece)
                left -= len(piece)
            if arg("chunked") == "1":
                c.send(b"0\r\n\r\n")
        except OSError:
            mark_closed(c)
            return False
    elif path == "/chunked":
        count = int(arg("n", "10"))
        c.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(1, count + 1):
            line = b"line %d\n" % i
            c.send(b"%x\r\n" % len(line) + line + b"\r\n")
        c.send(b"0\r\n\r\n")
    elif path == "/redirect-other-host":
        to = arg("to", "/echo")
        respond(c, 302, "moved\n", headers=[("Location", "http://127.0.0.2:%d%s" % (port, to))],
                close=close)
    elif path == "/redirect":
        respond(c, 302, "moved\n", headers=[("Location", arg("to", "/echo"))], close=close)
    elif path == "/sse":
        last = headers.get("last-event-id")
        with lock:
            sse_log.setdefault(key, []).append(last)
        status, ctype = int(arg("status", "200")), arg("ctype", "text/event-stream")
        if status != 200:
            respond(c, status, "no stream\n", close=True)
            return False
        total, drop = int(arg("n", "6")), int(arg("drop", "2"))
        track(c, key)
        c.send(("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                "Connection: close\r\n\r\n" % ctype).encode())
        try:
            c.send(b"\xef\xbb\xbf: hello\n")
            if arg("retry") is not None:
                c.send(b"retry: %d\n\n" % int(arg("retry")))
            start = int(last or "0") + 1
            sent = 0
            for i in range(start, total + 1):
                if sent == drop:
                    c.send(b"id: 999\ndata: partial")
                    time.sleep(0.02)
                    return False
                c.send(b"id: %d\r\ndata: event %d\rdata: line 2\n\n" % (i, i))
                sent += 1
                time.sleep(0.005)
            c.send(b"event: done\ndata: bye\n\n")
            if arg("hold") == "1":
                wait_peer_close(c)
        except OSError:
            mark_closed(c)
        return False
    elif path == "/sse-log":
        with lock:
            log = list(sse_log.get(key, []))
        respond(c, 200, json.dumps(log), ctype="application/json", close=close)
    elif path == "/set-cookie":
        respond(c, 200, "cookies\n", headers=[("Set-Cookie", v) for v in args.get("v", [])],
                close=close)
    elif path == "/multipart":
        ctype = headers.get("content-type", "")
        msg = BytesParser(policy=email_policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + (body or b""))
        parts = []
        for part in (msg.iter_parts() if msg.is_multipart() else []):
            data = part.get_payload(decode=True) or b""
            parts.append({
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "content_type": part.get("content-type"),
                "len": len(data), "adler32": zlib.adler32(data),
                "data": data.decode("latin-1") if len(data) <= 65536 else None,
            })
        respond(c, 200, json.dumps({"content_type": ctype, "parts": parts}),
                ctype="application/json", close=close)
    elif path == "/count":
        with lock:
            n_acc = accepted
        respond(c, 200, "%d" % n_acc, close=close)
    elif path == "/flaky":
        fail, status = int(arg("fail", "1")), int(arg("status", "503"))
        with lock:
            seen = hits.get(key, 0)
        if seen <= fail:
            extra = []
            if arg("retry_after") is not None:
                extra.append(("Retry-After", arg("retry_after")))
            if arg("retry_after_date") is not None:
                when = time.time() + float(arg("retry_after_date"))
                extra.append(("Retry-After", formatdate(when, usegmt=True)))
            tail = " len=%d adler=%d" % (n, adler) if arg("echo") == "1" else ""
            respond(c, status, "flaky %d%s\n" % (seen, tail), headers=extra, close=close)
        else:
            tail = " len=%d adler=%d" % (n, adler) if arg("echo") == "1" else ""
            respond(c, 200, "ok after %d%s\n" % (seen - 1, tail), close=close)
    elif path == "/hits":
        with lock:
            n_hits = hits.get(key, 0)
        respond(c, 200, "%d" % n_hits, close=close)
    elif path == "/state":
        with lock:
            st = dict(states.get(key, {"state": "unknown", "sent": 0}))
        respond(c, 200, json.dumps(st), ctype="application/json", close=close)
    else:
        respond(c, 404, "no such endpoint: %s\n" % path, close=close)
    return not close


def serve(sock, number):
    c = Conn(sock, number)
    try:
        while True:
            c.key = None
            method, target, version, header_list, headers = read_request(c)
            if urlsplit(target).path == "/early":
                # Answers before reading the body (a size limit, say): the
                # client must stop sending and take the answer.
                respond(c, 413, "too large\n", close=True)
                break
            body_info = read_body(c, headers)
            if not handle(c, method, target, header_list, headers, body_info):
                break
    except (Closed, OSError, ValueError):
        mark_closed(c)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def listen_pair(want):
    """Listening sockets on 127.0.0.1 and 127.0.0.2 with one port."""
    for _ in range(50):
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            a.bind(("127.0.0.1", want))
            p = a.getsockname()[1]
            b = socket.socket()
            b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            b.bind(("127.0.0.2", p))
        except OSError:
            a.close()
            if want:
                raise
            continue
        a.listen(512)
        b.listen(512)
        return p, [a, b]
    raise SystemExit("faults.py: no free port pair")


def blackhole():
    """A listener whose accept queue is full: connecting to it hangs (SYNs are
    dropped), for connect timeouts. Returns it and its fillers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(s.getsockname())
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.05)
    return [s] + fillers


def watch_parent(parent):
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


def main():
    global port, accepted
    opts = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    port, socks = listen_pair(int(opts.get("--port", "0")))
    parent = int(opts.get("--parent", os.getppid()))
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()
    hole = blackhole()
    print(port, os.getpid(), hole[0].getsockname()[1], flush=True)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            with lock:
                accepted += 1
                number = accepted
            threading.Thread(target=serve, args=(conn, number), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
