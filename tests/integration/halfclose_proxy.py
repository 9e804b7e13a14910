#!/usr/bin/env python3
"""halfclose_proxy.py PORTFILE: an HTTP CONNECT proxy on 127.0.0.1 that
passes half-closes on (tinyproxy and squid drop a tunnel on the first EOF).
Writes its port to PORTFILE once it listens; logs `CONNECT HOST:PORT`."""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(c):
    try:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = c.recv(4096)
            if not data:
                return
            buf += data
        head, rest = buf.split(b"\r\n\r\n", 1)
        target = head.split(b"\r\n")[0].split()[1].decode()
        host, port = target.rsplit(":", 1)
        print("CONNECT " + target, flush=True)
        u = socket.create_connection((host.strip("[]"), int(port)), 10)
        u.settimeout(None)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            u.sendall(rest)
        t = threading.Thread(target=pipe, args=(u, c), daemon=True)
        t.start()
        pipe(c, u)
        t.join(60)
        u.close()
    except (OSError, ValueError, IndexError):
        pass
    finally:
        c.close()


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    with open(sys.argv[1], "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
