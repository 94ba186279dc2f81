"""Addresses as the fault proxy's API writes them (`host:port`, `[v6]:port`), and the one
listening socket a proxy binds."""

from __future__ import annotations

import socket
from typing import Any

LISTEN_BACKLOG = 1024


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) -> (host, port); ValueError when it is not one."""
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if not port_text.isdigit():
        raise ValueError(f"address {address}: invalid port")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"{address!r}: port out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def format_address(sockname: tuple[Any, ...]) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listener(address: str) -> socket.socket:
    """A listening socket on the first address `address` resolves to.

    One address only (unlike `loop.create_server(host, ...)`, which binds every
    resolved address, each to a different free port when the port is 0).
    An empty host means loopback here, not every interface as in Go: the proxy
    should expose nothing beyond what the stack owns.
    """
    host, port = split_address(address)
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host or "127.0.0.1", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
