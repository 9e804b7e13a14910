"""Shared plumbing for the small test servers in tests/integration/.

Every server binds HOST:PORT (PORT 0 = let the kernel choose, race-free),
writes the bound port to --port-file once it listens, logs one line per event
to stdout (flushed), and runs until it is sent SIGTERM/SIGINT.
Loopback only: a non-loopback --host is refused.
"""

import argparse
import ipaddress
import os
import signal
import socket
import socketserver
import sys
import threading


def base_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.0/8 or ::1")
    ap.add_argument("--port", type=int, default=0, help="0 = kernel's choice")
    ap.add_argument("--port-file", help="write the bound port here")
    return ap


def check_loopback(host):
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    sys.exit("refusing non-loopback address %r" % host)


_log_lock = threading.Lock()


def log(msg):
    with _log_lock:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()


def peer(sock_or_addr):
    addr = sock_or_addr
    if isinstance(sock_or_addr, socket.socket):
        addr = sock_or_addr.getpeername()
    return "%s %d" % (addr[0], addr[1])


def write_port_file(path, port):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def make_server(args, handler_cls, server_base=socketserver.ThreadingTCPServer):
    """A threading server on args.host/args.port for handler_cls."""
    check_loopback(args.host)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET

    class Server(server_base):
        address_family = family
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 128

    return Server((args.host, args.port), handler_cls)


def run(args, server):
    """Announce the port, then serve until SIGTERM/SIGINT."""
    port = server.server_address[1]

    def stop(_sig, _frm):
        # shutdown() must not run on the serving thread: exit directly.
        log("stop")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("listening %s %d" % (args.host, port))
    write_port_file(args.port_file, port)
    server.serve_forever(poll_interval=0.2)
