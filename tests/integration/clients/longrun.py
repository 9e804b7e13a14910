"""A long-running wrapped program for the fault tests.

    longrun.py PORT BANNER N STEP...

Prints "TABLE <PROXYSHIM_TABLE>", then for each STEP (a file name; the
word "start" needs no file) waits up to 20 s for the file to exist and
makes N connections to 127.0.0.1:PORT, each reading a banner line that
must start with BANNER and echoing a token back; prints
"step <basename of STEP> <result>..." with OK, "BAD ..." or "ERR ...".
banner_echo() is shared with the other fault tests' clients.
"""
import os
import socket
import sys
import time


def banner_echo(host, port, tok):
    """Connect, read the banner line, send tok and read as much back:
    (banner, echo) as received."""
    s = socket.create_connection((host, port), timeout=10)
    try:
        b = b""
        while not b.endswith(b"\r\n"):
            d = s.recv(100)
            if not d:
                break
            b += d
        s.sendall(tok)
        e = b""
        while len(e) < len(tok):
            d = s.recv(100)
            if not d:
                break
            e += d
    finally:
        s.close()
    return b, e


def once(port, banner):
    try:
        b, e = banner_echo("127.0.0.1", port, b"tok-longrun\n")
    except OSError as x:
        return "ERR %s" % x
    if b.startswith(banner) and e == b"tok-longrun\n":
        return "OK"
    return "BAD %r %r" % (b, e)


def main():
    port, banner, n = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
    print("TABLE " + os.environ.get("PROXYSHIM_TABLE", "-"), flush=True)
    for step in sys.argv[4:]:
        for _ in range(400):
            if step == "start" or os.path.exists(step):
                break
            time.sleep(0.05)
        r = [once(port, banner) for _ in range(n)]
        print("step %s %s" % (os.path.basename(step), " ".join(r)), flush=True)


if __name__ == "__main__":
    main()
