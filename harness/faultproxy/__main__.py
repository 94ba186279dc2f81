"""`python -m harness.faultproxy [--host H] [--port N]`: run the fault proxy until
SIGTERM or SIGINT, then close every listener and connection and exit 0.

Prints one line, `faultproxy listening on http://H:N`, once the API accepts requests
(with `--port 0`, N is the port the system chose).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .api import ApiServer
from .server import ProxyCollection, format_address


async def serve(host: str, port: int) -> None:
    collection = ProxyCollection()
    api = ApiServer(collection)
    server = await api.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    address = format_address(server.sockets[0].getsockname())
    print(f"faultproxy listening on http://{address}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        api.close_connections()
        collection.shutdown()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the aborted connections' callbacks run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.faultproxy",
        description="TCP fault proxy speaking Toxiproxy's v2 REST API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="API port (default 8474)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="faultproxy: %(levelname)s %(message)s")
    try:
        asyncio.run(serve(args.host, args.port))
    except OSError as exc:
        print(
            f"faultproxy: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
