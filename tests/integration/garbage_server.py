#!/usr/bin/env python3
"""A scripted fake proxy / broken server.

For each connection: wait for the peer's first bytes (or not, with
--speak-first), send reply 1; for each further read send the next reply; when
the replies run out do --then: close (default), hold (keep the connection
open, send nothing) or echo.

Replies are given with --reply TEXT (backslash escapes such as \\r\\n, \\x00
are decoded) or --reply-hex HEX, in order, mixed freely. With no reply at all
the server answers junk ("\\x00\\xffGARBAGE\\x07\\r\\n\\r\\n"). Reads are single
recv() calls: the test client is expected to send each handshake message in
one write (as the real handshakes do).

Examples:
  SOCKS5 no-auth accepted, then REP=05 (refused):
    --reply-hex 0500 --reply-hex 05050001000000000000
  HTTP proxy that asks for credentials:
    --reply 'HTTP/1.1 407 Proxy Authentication Required\\r\\n\\r\\n'

Logs `accept ADDR PORT`, `read ADDR PORT N`, `close ADDR PORT` on stdout."""

import argparse
import codecs
import socketserver
import time

import srvlib

JUNK = b"\x00\xffGARBAGE\x07\r\n\r\n"


class ReplyAction(argparse.Action):
    def __call__(self, parser, ns, value, option_string=None):
        if option_string == "--reply-hex":
            data = bytes.fromhex(value)
        else:
            data = codecs.decode(value, "unicode_escape").encode("latin-1")
        ns.replies = (ns.replies or []) + [data]


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        sock = self.request
        who = srvlib.peer(self.client_address)
        srvlib.log("accept " + who)
        replies = list(srv.replies)
        first = True
        try:
            while replies:
                if not (first and srv.speak_first):
                    data = sock.recv(65536)
                    srvlib.log("read %s %d" % (who, len(data)))
                    if not data:
                        break
                first = False
                sock.sendall(replies.pop(0))
            if srv.then == "echo":
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    sock.sendall(data)
            elif srv.then == "hold":
                while sock.recv(65536):
                    pass
            else:
                time.sleep(0.05)  # let the reply leave before the FIN
        except OSError as e:
            srvlib.log("error %s %s" % (who, e))
        srvlib.log("close " + who)


def main():
    ap = srvlib.base_args(__doc__)
    ap.formatter_class = argparse.RawDescriptionHelpFormatter
    ap.add_argument("--reply", action=ReplyAction, dest="replies")
    ap.add_argument("--reply-hex", action=ReplyAction, dest="replies")
    ap.add_argument("--speak-first", action="store_true",
                    help="send the first reply on accept, before reading")
    ap.add_argument("--then", choices=("close", "hold", "echo"),
                    default="close")
    args = ap.parse_args()
    server = srvlib.make_server(args, Handler)
    server.replies = args.replies or [JUNK]
    server.speak_first = args.speak_first
    server.then = args.then
    srvlib.run(args, server)


if __name__ == "__main__":
    main()
