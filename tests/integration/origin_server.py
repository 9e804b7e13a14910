#!/usr/bin/env python3
"""Origin HTTP server for the integration tests.

Serves --dir like `python3 -m http.server` (threaded, HTTP/1.0 replies, so one
request per connection), plus two endpoints that help prove a proxy was used:
  /whoami   -> "ADDR PORT\n" of the TCP peer the server saw
  /headers  -> the request line and headers as received
Access log on stdout, one line per request: `ADDR PORT "REQUEST" STATUS SIZE`.
"""

import functools
import http.server

import srvlib


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "proxyshim-origin/1"

    def _reply(self, body):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        if self.path == "/whoami":
            self._reply("%s %d\n" % self.client_address[:2])
        elif self.path == "/headers":
            self._reply(self.requestline + "\n" + str(self.headers))
        else:
            super().do_GET()

    def log_request(self, code="-", size="-"):
        srvlib.log('%s %d "%s" %s %s' % (self.client_address[0],
                                         self.client_address[1],
                                         self.requestline, code, size))

    def log_message(self, format, *args):  # errors only; requests above
        srvlib.log("%s %d error: %s" % (self.client_address[0],
                                        self.client_address[1],
                                        format % args))


def main():
    ap = srvlib.base_args(__doc__)
    ap.add_argument("--dir", required=True, help="directory to serve")
    args = ap.parse_args()
    handler = functools.partial(Handler, directory=args.dir)
    server = srvlib.make_server(args, handler)
    srvlib.run(args, server)


if __name__ == "__main__":
    main()
