#!/usr/bin/env python3
"""Server-Sent Events origin for the reverse-proxy tests.

GET /events streams N events ("data: i"), one every --gap seconds, each
flushed at once and then logged as `sent I`; GET /whoami answers the
client address it sees.  Every request is logged as `ADDR "GET /path"`
(client_address, i.e. accept()).
Binds 127.0.0.1 port 0 and writes the port to --port-file.
"""
import argparse
import http.server
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--events", type=int, default=5)
ap.add_argument("--gap", type=float, default=0.5)
args = ap.parse_args()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def do_GET(self):
        print('%s "GET %s"' % (self.client_address[0], self.path), flush=True)
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(args.events):
                self.wfile.write(b"data: %d\n\n" % i)
                self.wfile.flush()
                print("sent %d" % i, flush=True)
                time.sleep(args.gap)
            self.close_connection = True
            return
        body = ("%s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(args.port_file, "w") as f:
    f.write("%d\n" % srv.server_address[1])
sys.stdout.flush()
srv.serve_forever()
