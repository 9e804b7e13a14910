#!/usr/bin/env python3
"""relay_reset.py HOST PORT READY GO: connect to a banner/echo server, read
the banner line, echo one token, then create READY and wait (at most 15 s)
for GO to exist; then recv again and print what the socket says:
ECONNRESET, EOF, DATA or another errno name (TIMEOUT if recv blocks)."""

import errno
import os
import socket
import sys
import time


def main():
    host, port, ready, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    s = socket.create_connection((host, port), timeout=10)
    buf = b""
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            print("EOF before the banner")
            return 1
        buf += d
    s.sendall(b"ping\n")
    buf = b""
    while not buf.endswith(b"ping\n"):
        d = s.recv(4096)
        if not d:
            print("EOF before the echo")
            return 1
        buf += d
    open(ready, "w").close()
    deadline = time.monotonic() + 15
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            print("no GO")
            return 1
        time.sleep(0.02)
    s.settimeout(10)
    try:
        d = s.recv(4096)
        print("DATA" if d else "EOF")
    except socket.timeout:
        print("TIMEOUT")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
