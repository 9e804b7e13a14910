#!/usr/bin/env python3
"""connect_errno.py HOST PORT [TIMEOUT]: connect once and print OK or the
errno name (ECONNREFUSED, EACCES, ...).  Exit 0 either way; 2 on usage."""
import errno
import socket
import sys

if len(sys.argv) < 3:
    sys.exit(2)
host, port = sys.argv[1], int(sys.argv[2])
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(timeout)
try:
    s.connect((host, port))
    print("OK")
except socket.timeout:
    print("TIMEOUT")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
finally:
    s.close()
