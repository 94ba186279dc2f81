"""Network faults on a dependency link, through the fault proxy (Toxiproxy's REST API):
latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data, and a cut link.

Confirmed by the injector's own round trip through the link (a PostgreSQL query, a Redis
PING or an HTTP request), measured against the same round trip before the fault.
"""

from __future__ import annotations

import socket
import time

import httpx

from harness.backends.base import Stack
from harness.faults.base import Fault
from harness.observe.probes import postgres_login
from harness.topology import PROXY_API_PORT
from harness.toxiproxy import Toxiproxy, ToxiproxyError


def toxiproxy_for(stack: Stack) -> Toxiproxy:
    host, port = stack.endpoint("toxiproxy", PROXY_API_PORT)
    return Toxiproxy(f"http://{host}:{port}", timeout=3)


def link_round_trip(stack: Stack, link: str, timeout: float = 3.0) -> float | None:
    """Seconds for one request through the proxy's `link`, or None if it failed."""
    proxy = next(p for p in stack.compose.proxies if p.name == link)
    host, port = stack.endpoint("toxiproxy", proxy.listen_port)
    started = time.monotonic()
    try:
        if link == "redis":
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.settimeout(timeout)
                s.sendall(b"PING\r\n")
                if not s.recv(16).startswith(b"+PONG"):
                    return None
        elif link == "postgres":
            import psycopg

            with psycopg.connect(
                host=host,
                port=port,
                **postgres_login(stack),
                connect_timeout=max(1, int(timeout)),
            ) as conn:
                conn.execute("SELECT 1")
        else:
            httpx.get(f"http://{host}:{port}/_chaos/health", timeout=timeout).raise_for_status()
    except Exception:  # noqa: BLE001 - any failure of the round trip is the observation
        return None
    return time.monotonic() - started


class LinkToxic(Fault):
    """A toxic on one link; `toxic="cut"` disables the link instead."""

    kind = "network"

    def __init__(
        self, link: str, toxic: str = "latency", stream: str = "downstream", **attributes: int
    ) -> None:
        self.link, self.toxic, self.stream, self.attributes = link, toxic, stream, attributes
        self._before: float | None = None

    def inject(self, stack: Stack) -> None:
        self._before = link_round_trip(stack, self.link)
        with toxiproxy_for(stack) as api:
            if self.toxic == "cut":
                api.update_proxy(self.link, enabled=False)
            else:
                api.add_toxic(
                    self.link,
                    self.toxic,
                    self.attributes,
                    stream=self.stream,
                    name=f"gameday_{self.toxic}",
                )

    def confirm(self, stack: Stack) -> str | None:
        with toxiproxy_for(stack) as api:
            info = api.get_proxy(self.link)
        if self.toxic == "cut":
            if not info["enabled"] and link_round_trip(stack, self.link, timeout=1.0) is None:
                return f"link {self.link} cut: connections through the proxy fail"
            return None
        if not any(t["name"] == f"gameday_{self.toxic}" for t in info["toxics"]):
            return None
        after = link_round_trip(stack, self.link, timeout=5.0)
        if self.toxic == "latency":
            added_ms = self.attributes.get("latency", 0)
            before = self._before or 0.0
            if after is not None and (after - before) * 1000 >= 0.8 * added_ms:
                return (
                    f"link {self.link}: round trip {after * 1000:.0f} ms "
                    f"(was {before * 1000:.0f} ms) with {added_ms} ms latency"
                )
            return None
        if self.toxic in ("timeout", "reset_peer", "limit_data") and after is not None:
            return None
        return f"toxic {self.toxic} active on link {self.link} (round trip: {after})"

    def diagnose(self, stack: Stack) -> str | None:
        with toxiproxy_for(stack) as api:
            info = api.get_proxy(self.link)
        if self.toxic == "cut" and not info["enabled"]:
            return f"the network link to {self.link} is still cut: no step checks or restores it"
        if any(t["name"] == f"gameday_{self.toxic}" for t in info["toxics"]):
            return f"the {self.toxic} on the link to {self.link} is still there"
        return None

    def still_in_effect(self, stack: Stack) -> str | None:
        return self.diagnose(stack)

    def lift(self, stack: Stack) -> None:
        with toxiproxy_for(stack) as api:
            if self.toxic == "cut":
                api.update_proxy(self.link, enabled=True)
            else:
                try:
                    api.remove_toxic(self.link, f"gameday_{self.toxic}")
                except ToxiproxyError:
                    pass

    @property
    def description(self) -> str:
        if self.toxic == "cut":
            return f"The network link from the TestGen API to {self.link} was cut."
        attrs = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
        return (f"The network link from the TestGen API to {self.link} got a {self.toxic} "
                f"toxic ({attrs}).")


class Toxics(Fault):
    """Several link faults at once (e.g. latency on PostgreSQL and on the LLM provider)."""

    kind = "network-multi"

    def __init__(self, *faults: LinkToxic) -> None:
        self.faults = faults

    def inject(self, stack: Stack) -> None:
        for f in self.faults:
            f.inject(stack)

    def confirm(self, stack: Stack) -> str | None:
        evidence = [f.confirm(stack) for f in self.faults]
        return "; ".join(e for e in evidence if e) if all(evidence) else None

    def lift(self, stack: Stack) -> None:
        for f in self.faults:
            f.lift(stack)

    def still_in_effect(self, stack: Stack) -> str | None:
        present = [e for f in self.faults if (e := f.still_in_effect(stack))]
        return "; ".join(present) or None

    def diagnose(self, stack: Stack) -> str | None:
        return self.still_in_effect(stack)

    @property
    def description(self) -> str:
        return " ".join(f.description for f in self.faults)
