#!/usr/bin/env python3
"""Drives an interactive `lua5.4 -i` in a pseudo-terminal, the way a person
at a keyboard would: types lines at the prompt, presses Ctrl-C (a real ^C
through the terminal) after a given line, and prints the transcript.

    repl.py INTERRUPT_AFTER LINE...

INTERRUPT_AFTER is the 1-based number of the line after which Ctrl-C is
pressed (0: never). Everything stops after 20 s."""
import os
import pty
import select
import sys
import time

DEADLINE = time.monotonic() + 20


def read_until(fd, marker, out):
    """Reads into out until it ends with marker (a prompt) or time runs out."""
    while not out.endswith(marker):
        left = DEADLINE - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        out.extend(chunk)
    return True


def main():
    interrupt_after = int(sys.argv[1])
    lines = sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("lua5.4", ["lua5.4", "-i"])
    out = bytearray()
    read_until(fd, b"> ", out)
    for n, line in enumerate(lines, 1):
        os.write(fd, line.encode() + b"\n")
        if n == interrupt_after:
            time.sleep(0.5)  # let the line start waiting
            os.write(fd, b"\x03")
        read_until(fd, b"> ", out)
    os.write(fd, b"os.exit(0)\n")
    try:
        while read_until(fd, b"\0", out):
            pass
    finally:
        os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))


main()
