#!/usr/bin/env python3
"""An event-loop server for test_reverse.sh: asyncio.start_server (the
listener is non-blocking; the loop accepts when it is readable).

For each connection it logs `conn HOST PORT` (writer.get_extra_info(
'peername')), reads one line and answers `you are HOST\\n`.  Writes its
port to --port-file once it listens.  Exits after --lifetime seconds (a
bound in case nobody stops it)."""
import argparse
import asyncio
import os
import sys


async def handle(reader, writer):
    peer = writer.get_extra_info("peername")
    host, port = (peer[0], peer[1]) if peer else ("?", 0)
    print(f"conn {host} {port}", flush=True)
    try:
        await asyncio.wait_for(reader.readline(), 10)
        writer.write(f"you are {host}\n".encode())
        await writer.drain()
    except (asyncio.TimeoutError, ConnectionError) as e:
        print(f"error {host} {port} {type(e).__name__}", flush=True)
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=300)
    a = ap.parse_args()
    srv = await asyncio.start_server(handle, a.host, 0)
    port = srv.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(a.port_file + ".tmp", a.port_file)
    async with srv:
        try:
            await asyncio.wait_for(srv.serve_forever(), a.lifetime)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
