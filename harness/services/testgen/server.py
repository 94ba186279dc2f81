"""Binding the listening socket ourselves, and running uvicorn on it.

Binding before uvicorn starts lets a taken port be reported as one clear line with exit
status 98 (EADDRINUSE), instead of uvicorn's multi-line error and exit status 1. Shared by
the TestGen service and the mock LLM.
"""

from __future__ import annotations

import errno
import signal
import socket
from typing import Any

EX_ADDRINUSE = 98
EX_OSERR = 71


class BindError(Exception):
    """The socket could not be bound; `status` is the exit status to use."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot resolve host {host}: {exc.strerror}", EX_OSERR) from None
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        # SO_REUSEADDR only skips TIME_WAIT leftovers; a live listener still conflicts.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BindError(
                f"port {port} on {host} is already in use", EX_ADDRINUSE
            ) from None
        raise BindError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", EX_OSERR
        ) from None
    sock.set_inheritable(False)
    return sock


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def install_exit_handlers() -> None:
    """SIGTERM/SIGINT exit cleanly (status 0); call first thing in `main`."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit)


def serve(app: Any, sock: socket.socket, graceful_timeout: int) -> None:
    """Run uvicorn on an already-bound socket until SIGTERM/SIGINT, then return.

    uvicorn shuts down gracefully on the signal (stops accepting, lets in-flight requests
    finish for up to `graceful_timeout` s, runs the lifespan shutdown), then re-raises the
    signal with the previous handler; ours turns that into SystemExit(0), a clean exit (a
    signal that arrives before uvicorn installs its handlers exits the same way).
    """
    import uvicorn  # imported here: `bind()` failures exit before paying for it

    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=graceful_timeout,
        server_header=False,
    )
    server = uvicorn.Server(config)

    install_exit_handlers()
    server.run(sockets=[sock])
