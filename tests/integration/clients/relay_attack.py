"""Another local user against the TLS relay (test_relay_trust.sh).

  squat PORT OUT READY SECONDS   listen on 127.0.0.1:PORT (the port a killed
                                 relay left in its record) and append every
                                 byte any connection sends to OUT; print
                                 "conns N bytes M" at the end
  half PORT N READY GO SECONDS   open N connections, send "CONNECT x" on each
                                 (no end of header), hold them until GO exists
                                 (or SECONDS); print how many the relay had
                                 already closed
  steal PORT SECRET HOST:PORT    CONNECT with that secret as the shim would;
                                 print the status line, or "closed"/"reset"
"""
import base64
import os
import socket
import sys
import time


def squat(port, out, ready, secs):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    s.settimeout(0.2)
    open(ready, "w").close()
    conns, total, open_socks = 0, 0, []
    end = time.monotonic() + secs
    with open(out, "ab") as f:
        while time.monotonic() < end:
            try:
                c, _ = s.accept()
                c.setblocking(False)
                open_socks.append(c)
                conns += 1
            except socket.timeout:
                pass
            for c in list(open_socks):
                try:
                    d = c.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    open_socks.remove(c)
                    continue
                if not d:
                    open_socks.remove(c)
                    continue
                f.write(d)
                f.flush()
                total += len(d)
    print(f"conns {conns} bytes {total}", flush=True)


def half(port, n, ready, go, secs):
    socks, closed = [], 0
    for _ in range(n):
        c = None
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"CONNECT x")
        except (ConnectionResetError, BrokenPipeError):
            closed += 1  # reset before the request was even sent
            if c is not None:
                c.close()
            continue
        socks.append(c)
    open(ready, "w").close()
    end = time.monotonic() + secs
    while not os.path.exists(go) and time.monotonic() < end:
        time.sleep(0.05)
    for c in socks:
        c.setblocking(False)
        try:
            if c.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        c.close()
    print(f"closed {closed}", flush=True)


def steal(port, secret, dest):
    cred = base64.b64encode(f"u0:{secret}".encode()).decode()
    req = (f"CONNECT {dest} HTTP/1.1\r\nHost: {dest}\r\n"
           f"Proxy-Authorization: Basic {cred}\r\n\r\n")
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(req.encode())
        d = c.recv(4096)
    except ConnectionResetError:
        print("reset")
        return
    except OSError as e:
        print(f"error {e.errno}")
        return
    print(d.split(b"\r\n")[0].decode() if d else "closed")


def main():
    a = sys.argv[1:]
    if a[0] == "squat":
        squat(int(a[1]), a[2], a[3], float(a[4]))
    elif a[0] == "half":
        half(int(a[1]), int(a[2]), a[3], a[4], float(a[5]))
    elif a[0] == "steal":
        steal(int(a[1]), a[2], a[3])


main()
