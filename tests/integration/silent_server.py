#!/usr/bin/env python3
"""A server that accepts and never answers: it reads and discards whatever
arrives (so the peer's writes never block) and never writes a byte. For
handshake timeouts. Logs `accept ADDR PORT` and `close ADDR PORT BYTES`."""

import socketserver

import srvlib


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        who = srvlib.peer(self.client_address)
        srvlib.log("accept " + who)
        total = 0
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                total += len(data)
        except OSError:
            pass
        srvlib.log("close %s %d" % (who, total))


def main():
    args = srvlib.base_args(__doc__).parse_args()
    srvlib.run(args, srvlib.make_server(args, Handler))


if __name__ == "__main__":
    main()
