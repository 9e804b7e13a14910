#!/usr/bin/env python3
"""halfclose_client.py HOST PORT TOKEN: read the banner line, send TOKEN,
shut down writing, then read to EOF; print everything received."""
import socket
import sys

s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 10)
s.settimeout(10)
got = b""
while b"\n" not in got:
    d = s.recv(4096)
    if not d:
        break
    got += d
s.sendall(sys.argv[3].encode() + b"\n")
s.shutdown(socket.SHUT_WR)
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
sys.stdout.write(got.decode().replace("\r\n", "\n"))
