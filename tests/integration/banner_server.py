#!/usr/bin/env python3
"""A server that speaks first: on accept it sends --banner (one line) before
reading anything, then echoes every byte back until the peer closes.
Logs `accept ADDR PORT` and `close ADDR PORT BYTES` on stdout."""

import socketserver

import srvlib


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        who = srvlib.peer(self.client_address)
        srvlib.log("accept " + who)
        total = 0
        try:
            self.request.sendall(self.server.banner)
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
                total += len(data)
        except OSError as e:
            srvlib.log("error %s %s" % (who, e))
        srvlib.log("close %s %d" % (who, total))


def main():
    ap = srvlib.base_args(__doc__)
    ap.add_argument("--banner", default="220 proxyshim-banner ready",
                    help="line sent on accept (CRLF appended)")
    args = ap.parse_args()
    server = srvlib.make_server(args, Handler)
    server.banner = (args.banner + "\r\n").encode()
    srvlib.run(args, server)


if __name__ == "__main__":
    main()
