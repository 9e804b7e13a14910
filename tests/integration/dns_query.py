#!/usr/bin/env python3
"""One DNS query by hand (stdlib only), for test_dnsstub.sh.

    dns_query.py [--tcp] HOST PORT NAME TYPE

TYPE is A, AAAA or a number.  Prints one line: the RCODE's name, then
"TC" when the reply is truncated, then each A/AAAA address of the answer
section.  Checks what any reply must hold (ID, QR, the question echoed,
RA) and exits 1 with a message when it does not.  Waits at most 10 s.
"""

import argparse
import ipaddress
import random
import socket
import struct
import sys

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}
TYPES = {"A": 1, "AAAA": 28}


def question(name, qtype):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l)
    return wire + b"\0" + struct.pack("!HH", qtype, 1)


def exchange(args, msg):
    if args.tcp:
        with socket.create_connection((args.host, args.port), timeout=10) as s:
            s.sendall(struct.pack("!H", len(msg)) + msg)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                more = s.recv(4096)
                if not more:
                    sys.exit("connection closed before the reply's end")
                buf += more
            return buf[2:2 + struct.unpack("!H", buf[:2])[0]]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(msg, (args.host, args.port))
        return s.recvfrom(4096)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("name")
    ap.add_argument("type")
    args = ap.parse_args()
    qtype = TYPES.get(args.type) or int(args.type)
    qid = random.randrange(65536)
    q = question(args.name, qtype)
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q
    r = exchange(args, msg)
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", r[:12])
    if rid != qid or not flags & 0x8000 or not flags & 0x0080 or qd != 1:
        sys.exit("bad header: %r" % r[:12])
    if r[12:12 + len(q)] != q:
        sys.exit("question not echoed")
    out = [RCODES.get(flags & 15, str(flags & 15))]
    if flags & 0x0200:
        out.append("TC")
    off = 12 + len(q)
    for _ in range(an):
        if r[off] & 0xC0 != 0xC0:
            sys.exit("answer name is not a pointer")
        rtype, _, _, rdlen = struct.unpack("!HHIH", r[off + 2:off + 12])
        data = r[off + 12:off + 12 + rdlen]
        if rtype in (1, 28):
            out.append(str(ipaddress.ip_address(data)))
        off += 12 + rdlen
    print(" ".join(out))


if __name__ == "__main__":
    main()
