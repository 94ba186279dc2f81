"""Host addresses for the stack's services: container ports published on loopback.

Every port a harness component or a runbook command may reach from the host is
published on 127.0.0.1 (never on every interface), each on a host port chosen once per
stack. On a remote engine (location.py) they are published on the engine host's
interfaces and reached at the engine's address instead; the host ports are still chosen
here (from the same pool, so this machine's stacks never pick the same one).
Choosing them up front, instead of letting the engine pick, keeps each address
fixed across restarts and re-creations, as production's `8000:8000` is, so a load
generator or probe holding `localhost:8000`'s stand-in keeps reaching the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.backends.local.ports import free_port as reserved_free_port
from harness.compose import ComposeFile
from harness.topology import PROXY_API_PORT as TOXIPROXY_API_PORT

LOOPBACK = "127.0.0.1"
# Production's well-known ports that an operator's `redis-cli` / `psql` on the host reach.
WELL_KNOWN = {"postgres": 5432, "redis": 6379}


def service_kind(compose: ComposeFile, service: str) -> str:
    """postgres | redis | toxiproxy | process: the role a service plays in the stack."""
    spec = compose.spec(service)
    declared = (spec.get("x-local") or {}).get("kind")
    if declared:
        return str(declared)
    image = str(spec.get("image", "")).lower()
    for kind in ("toxiproxy", "postgres", "redis"):
        if kind in image or service == kind:
            return kind
    return "process"


def free_port() -> int:
    """A loopback port reserved for this process across processes, from the same pool and
    reservations as the local backend's (local/ports.py): a docker service that is stopped
    leaves its host port unbound, and another stack (docker or local, another process)
    must not pick it then; and ports from `bind(0)` are ephemeral, taken at any moment as
    the local end of some outgoing connection."""
    return reserved_free_port(LOOPBACK)


@dataclass
class PortPlan:
    """(service, container port) → host port on loopback, for the life of the stack."""

    compose: ComposeFile
    host_ports: dict[tuple[str, int], int]
    host: str = LOOPBACK  # where the harness reaches them (the engine's address)

    @classmethod
    def allocate(cls, compose: ComposeFile, host: str = LOOPBACK) -> PortPlan:
        wanted: set[tuple[str, int]] = set()
        for name, spec in compose.services().items():
            for entry in spec.get("ports", []) or []:
                wanted.add((name, int(str(entry).rsplit(":", 1)[-1])))
            kind = service_kind(compose, name)
            if kind in WELL_KNOWN:
                wanted.add((name, WELL_KNOWN[kind]))
            if kind == "toxiproxy":
                wanted.add((name, TOXIPROXY_API_PORT))
                wanted.update((name, link.listen_port) for link in compose.proxies)
        for link in compose.proxies:
            wanted.add((link.upstream_service, link.upstream_port))
        taken: set[int] = set()
        ports = {}
        for key in sorted(wanted):
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            ports[key] = port
        return cls(compose, ports, host)

    def for_service(self, service: str) -> dict[int, int]:
        """container port → host port, for one service."""
        return {c: h for (s, c), h in self.host_ports.items() if s == service}

    def endpoint(self, service: str, container_port: int) -> tuple[str, int] | None:
        port = self.host_ports.get((service, container_port))
        return (self.host, port) if port is not None else None

    def published(self, host_port: int) -> tuple[str, int] | None:
        """Where production's `localhost:<host_port>` lands: the compose `ports:` first,
        then PostgreSQL's and Redis's well-known ports."""
        for name, spec in self.compose.services().items():
            for entry in spec.get("ports", []) or []:
                host, _, container = str(entry).rpartition(":")
                if int(host or container) == host_port:
                    return self.endpoint(name, int(container))
        for name in self.compose.service_names:
            kind = service_kind(self.compose, name)
            if WELL_KNOWN.get(kind) == host_port:
                return self.endpoint(name, host_port)
        return None
