#!/usr/bin/env python3
"""A TCP port where connect() hangs: it neither succeeds nor is refused
until the client's own timeout (for connect timeouts and failover).

It listens with a backlog of 0, never accepts, and fills its own accept
queue with two connections of its own; the kernel then drops every further
SYN.  Same command line as the other test servers (--host, --port,
--port-file; see ../srvlib.py); writes the port once the queue is full and
runs until SIGTERM.  Loopback only."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import srvlib  # noqa: E402


def main():
    args = srvlib.base_args(__doc__).parse_args()
    srvlib.check_loopback(args.host)
    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.bind((args.host, args.port))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(2):
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect((args.host, port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)  # let the first handshake complete and fill the queue
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    srvlib.log("listening %s %d" % (args.host, port))
    srvlib.write_port_file(args.port_file, port)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
