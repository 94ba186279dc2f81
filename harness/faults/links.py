"""One request through a dependency link, timed, through the fault proxy or direct to the
service: what the network faults measure their effect with.

    client ──▶ fault proxy (listen port) ──toxics──▶ upstream service     "through"
    client ─────────────────────────────────────────▶ upstream service     "direct"

A round trip is the smallest request the service answers (Redis PING, a PostgreSQL login and
SELECT 1, HTTP GET); an echo carries `n` bytes each way (Redis PING <payload>, PostgreSQL
SELECT of a parameter), so a bandwidth or data-limit toxic shows in it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.backends.base import Stack
from harness.observe.probes import postgres_login
from harness.tls import shared_context

Address = tuple[str, int]


class NotMeasurable(Exception):
    """The link's protocol has no request that carries the bytes a measurement needs."""


@dataclass(frozen=True)
class LinkProbe:
    """How to reach one link's service, through the proxy and directly."""

    link: str
    protocol: str  # "redis", "postgres" or "http"
    through: Address
    direct: Address
    login: dict[str, Any] = field(default_factory=dict)  # PostgreSQL login, Redis password

    def round_trip(self, direct: bool = False, timeout: float = 3.0) -> float | None:
        """Seconds for the smallest request on a new connection, or None if it failed."""
        return self._timed(lambda: self._request(b"", direct, timeout))

    def echo(self, size: int, direct: bool = False, timeout: float = 10.0) -> float | None:
        """Seconds to send `size` bytes and read them back on a new connection, or None."""
        if self.protocol == "http":
            raise NotMeasurable(f"link {self.link}: the HTTP service echoes nothing")
        return self._timed(lambda: self._request(b"x" * size, direct, timeout))

    @staticmethod
    def _timed(request: Any) -> float | None:
        started = time.monotonic()
        try:
            request()
        except Exception:  # noqa: BLE001 - any failure of the request is the observation
            return None
        return time.monotonic() - started

    def _request(self, payload: bytes, direct: bool, timeout: float) -> None:
        host, port = self.direct if direct else self.through
        if self.protocol == "redis":
            _redis_ping(host, port, payload, self.login.get("password"), timeout)
        elif self.protocol == "postgres":
            import psycopg

            with psycopg.connect(
                host=host, port=port, connect_timeout=max(1, int(timeout)), **self.login
            ) as conn:
                if payload:
                    # SET takes no bound parameters; set_config does.
                    conn.execute("SELECT set_config('statement_timeout', %s, false)",
                                 (str(int(timeout * 1000)),))  # fmt: skip
                    row = conn.execute("SELECT %s::text", (payload.decode(),)).fetchone()
                    if row is None or len(row[0]) != len(payload):
                        raise ValueError("echo came back short")
                else:
                    conn.execute("SELECT 1")
        else:
            httpx.get(
                f"http://{host}:{port}/_chaos/health", timeout=timeout, verify=shared_context()
            ).raise_for_status()


def _redis_ping(host: str, port: int, payload: bytes, password: str | None, timeout: float) -> None:
    """PING (any reply counts: NOAUTH too), or PING <payload> read back in full."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        if not payload:
            s.sendall(b"PING\r\n")
            if s.recv(64)[:1] not in (b"+", b"-"):
                raise ValueError("no Redis reply")
            return
        command = b""
        if password:
            command += _resp(b"AUTH", password.encode())
        command += _resp(b"PING", payload)
        s.sendall(command)
        expected = (b"+OK\r\n" if password else b"") + b"$%d\r\n" % len(payload) + payload + b"\r\n"
        received = 0
        while received < len(expected):
            chunk = s.recv(1 << 16)
            if not chunk:
                raise ValueError(f"connection closed after {received} of {len(expected)} bytes")
            received += len(chunk)


def _resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def probe_for(stack: Stack, link: str) -> LinkProbe:
    """The probe of one of the stack's proxy links (`x-proxies` in the compose file)."""
    proxy = next(p for p in stack.compose.proxies if p.name == link)
    service = proxy.upstream_service
    through = stack.endpoint("toxiproxy", proxy.listen_port)
    direct = stack.endpoint(service, proxy.upstream_port)
    if service == "postgres":
        return LinkProbe(link, "postgres", through, direct, postgres_login(stack))
    if service == "redis":
        command = list(stack.containers()["redis"].config.command)
        password = next(
            (command[i + 1] for i, a in enumerate(command[:-1]) if a == "--requirepass"), None
        )
        return LinkProbe(link, "redis", through, direct, {"password": password})
    return LinkProbe(link, "http", through, direct)
