#!/usr/bin/env python3
"""A small SOCKS5 proxy for tide's HTTP specs (stdlib only, loopback only).

    python3 spec/support/socks5.py --log FILE [--parent PID]

Listens on 127.0.0.1:P, prints "P PID" once it accepts, and serves RFC 1928
CONNECT without authentication, one thread per connection. Names are
resolved here (socks5h): any name ending in ".tide.test" is 127.0.0.1,
others are refused (only loopback is ever reached). Each request's
destination is appended to FILE as "name:port" (or "ip:port"). It exits
when process PID (default: its parent) is gone.
"""
import argparse
import os
import select
import socket
import struct
import sys
import threading
import time


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        piece = sock.recv(n - len(data))
        if not piece:
            raise ConnectionError("closed")
        data += piece
    return data


def relay(a, b):
    socks = [a, b]
    while True:
        r, _, _ = select.select(socks, [], [], 60)
        if not r:
            return
        for s in r:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def serve(client, log, lock):
    upstream = None
    try:
        ver, nmethods = recv_exact(client, 2)
        methods = recv_exact(client, nmethods)
        if ver != 5 or 0 not in methods:
            client.sendall(b"\x05\xff")
            return
        client.sendall(b"\x05\x00")
        ver, cmd, _, atyp = recv_exact(client, 4)
        if atyp == 1:
            host = socket.inet_ntoa(recv_exact(client, 4))
            name = host
        elif atyp == 3:
            name = recv_exact(client, recv_exact(client, 1)[0]).decode("latin-1")
            host = "127.0.0.1" if name.endswith(".tide.test") or name == "localhost" else None
        else:
            recv_exact(client, 16)
            name, host = "ipv6", None
        port = struct.unpack("!H", recv_exact(client, 2))[0]
        with lock:
            with open(log, "a") as f:
                f.write("%s:%d\n" % (name, port))
        if cmd != 1 or host is None or not host.startswith("127."):
            client.sendall(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
            return
        try:
            upstream = socket.create_connection((host, port), timeout=5)
        except OSError:
            client.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        upstream.settimeout(None)
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        relay(client, upstream)
    except (OSError, ConnectionError, ValueError, AttributeError):
        pass
    finally:
        client.close()
        if upstream:
            upstream.close()


def watch_parent(parent):
    while True:
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--parent", type=int, default=os.getppid())
    args = ap.parse_args()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    threading.Thread(target=watch_parent, args=(args.parent,), daemon=True).start()
    print("%d %d" % (srv.getsockname()[1], os.getpid()), flush=True)
    lock = threading.Lock()
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, args.log, lock), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
