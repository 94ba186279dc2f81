"""`python -m harness.faultproxy [-host H] [-port N] [-config FILE] [-proxy-metrics]
[-runtime-metrics] [-seed N] [-version]`: run the fault proxy until SIGTERM or SIGINT, then
close every listener and connection and exit 0.

The flags are toxiproxy-server's, in Go's spellings (`-host H`, `-host=H`) and as
`--host H`. Prints one line, `faultproxy listening on http://H:N`, once the API accepts
requests (with `-port 0`, N is the port the system chose).

`-config FILE` creates the proxies of a JSON file (the body `POST /populate` takes) before
the API listens, as toxiproxy-server does. Unlike toxiproxy-server, which logs a bad file
and starts anyway, a file that cannot be read or applied is bad input: one line on
stderr, exit status 2, nothing left listening.
"""

from __future__ import annotations

import signal
import sys


def _stop_early(signum: int, frame: object) -> None:
    raise SystemExit(0)


# First of all: as a container's PID 1 the kernel drops a signal that has no handler, and the
# imports below take a good part of a second on a loaded machine. A `docker stop` in that
# time waited out its 10 s and ended in SIGKILL (seen in `docker-compose down -v` right
# after a failed `up -d`: 13 s instead of 3). The event loop's handlers replace these.
if __name__ == "__main__":
    for _signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(_signum, _stop_early)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

from .api import VERSION, ApiServer, Metrics  # noqa: E402
from .server import ProxyCollection, format_address  # noqa: E402

# The API host toxiproxy-server uses is "localhost"; ours stays on loopback by address
# so that a machine resolving localhost to ::1 first gets the same socket.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8474


class ConfigError(Exception):
    """The -config file cannot be read or applied."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Bad input is one line and exit status 2, not argparse's usage block.
        print(f"faultproxy: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


async def serve(host: str, port: int, config: list[Any] | None, metrics: Metrics) -> None:
    collection = ProxyCollection()
    api = ApiServer(collection, metrics)
    try:
        if config is not None:
            await _populate(api, config)
        server = await api.start(host, port)
    except BaseException:
        collection.shutdown()
        raise
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


async def _populate(api: ApiServer, config: list[Any]) -> None:
    status, payload = await api.populate(json.dumps(config).encode())
    if status != 201:
        raise ConfigError(str(payload.get("error", payload)))


def _read_config(path: str) -> list[Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON array of proxies, as POST /populate takes")
    return data


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m harness.faultproxy",
        description="TCP fault proxy speaking Toxiproxy's v2 REST API "
        "(flags as toxiproxy-server's).",
        allow_abbrev=False,
    )
    parser.add_argument("-host", "--host", default=DEFAULT_HOST, help="API address")
    parser.add_argument("-port", "--port", type=int, default=DEFAULT_PORT, help="API port")
    parser.add_argument(
        "-config", "--config", metavar="FILE", help="JSON file of proxies to create on start"
    )
    parser.add_argument("-seed", "--seed", type=int, help="seed for the toxics' randomness")
    parser.add_argument(
        "-proxy-metrics",
        "--proxy-metrics",
        action="store_true",
        help="serve toxiproxy_proxy_*_bytes_total on /metrics",
    )
    parser.add_argument(
        "-runtime-metrics",
        "--runtime-metrics",
        action="store_true",
        help="serve process and Python runtime metrics on /metrics",
    )
    parser.add_argument("-version", "--version", action="store_true", help="print the version")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"faultproxy (toxiproxy-server compatible) version {VERSION}")
        return 0
    if not 0 <= args.port <= 65535:
        print(f"faultproxy: -port {args.port} is not a port (0-65535)", file=sys.stderr)
        return 2
    config = None
    if args.config is not None:
        try:
            config = _read_config(args.config)
        except ConfigError as exc:
            print(f"faultproxy: -config {exc}", file=sys.stderr)
            return 2
    if args.seed is not None:
        random.seed(args.seed)
    metrics = Metrics(proxy=args.proxy_metrics, runtime=args.runtime_metrics)
    logging.basicConfig(level=logging.WARNING, format="faultproxy: %(levelname)s %(message)s")
    try:
        asyncio.run(serve(args.host, args.port, config, metrics))
    except ConfigError as exc:
        print(f"faultproxy: -config {args.config}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"faultproxy: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
