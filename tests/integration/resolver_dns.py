#!/usr/bin/env python3
"""A loopback DNS "server" that counts queries, for the DNS leak test of the name hooks.

Binds UDP --host:--port (53 by default: resolv.conf has no port syntax),
answers every query with NXDOMAIN at once (so resolvers do not retry), and
logs one line per query to stdout: `query NAME TYPE`.  Writes the port to
--port-file once it listens.  Runs until SIGTERM.
"""

import socket
import struct
import sys

import srvlib


def qname(pkt):
    labels, i = [], 12
    while i < len(pkt) and pkt[i] != 0:
        n = pkt[i]
        labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype = struct.unpack("!H", pkt[i + 1:i + 3])[0] if i + 3 <= len(pkt) else 0
    return ".".join(labels), qtype, i + 5


def main():
    ap = srvlib.base_args("counting DNS responder")
    ap.set_defaults(port=53)
    args = ap.parse_args()
    srvlib.check_loopback(args.host)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.host, args.port))
    srvlib.write_port_file(args.port_file, s.getsockname()[1])
    while True:
        pkt, peer = s.recvfrom(4096)
        if len(pkt) < 12:
            continue
        name, qtype, end = qname(pkt)
        srvlib.log("query %s %d" % (name, qtype))
        # Same id, QR=1, RD copied, RA=1, RCODE=3 (NXDOMAIN), the question.
        flags = 0x8000 | (struct.unpack("!H", pkt[2:4])[0] & 0x0100) | 0x0080 | 3
        reply = pkt[0:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + pkt[12:end]
        s.sendto(reply, peer)


if __name__ == "__main__":
    sys.exit(main())
