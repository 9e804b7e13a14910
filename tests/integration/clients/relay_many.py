#!/usr/bin/env python3
"""relay_many.py HOST PORT N: open N connections at once to a banner/echo
server, each reads the banner; once all N are open (and held open), each
sends its own token and checks that exactly its token comes back, then all
close together.  Prints `OK N` or the failures, one per line.  Every step
is bounded (socket timeouts, barrier timeouts)."""

import os
import socket
import sys
import threading


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    opened = threading.Barrier(n, timeout=60)
    done = threading.Barrier(n, timeout=60)
    errs = []
    lock = threading.Lock()
    salt = os.urandom(4).hex()

    def readline(s, buf):
        while b"\n" not in buf:
            d = s.recv(4096)
            if not d:
                raise EOFError("EOF")
            buf += d
        line, _, rest = buf.partition(b"\n")
        return line, rest

    def one(i):
        s = None
        try:
            s = socket.create_connection((host, port), timeout=60)
            banner, rest = readline(s, b"")
            if not banner.startswith(b"220 "):
                raise ValueError("banner %r" % banner)
            opened.wait()
            tok = ("tok-%s-%d" % (salt, i)).encode()
            s.sendall(tok + b"\n")
            line, rest = readline(s, rest)
            if line != tok or rest:
                raise ValueError("got %r, want %r" % (line + rest, tok))
            done.wait()
        except Exception as e:  # noqa: BLE001 - report every failure
            with lock:
                errs.append("%d: %s: %s" % (i, type(e).__name__, e))
            opened.abort()
            done.abort()
        finally:
            if s is not None:
                s.close()

    ts = [threading.Thread(target=one, args=(i,), daemon=True)
          for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(130)
    real = [e for e in errs if "BrokenBarrierError" not in e] or errs
    if real or any(t.is_alive() for t in ts):
        print("\n".join(sorted(real)[:20]) or "threads still running")
        return 1
    print("OK %d" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
