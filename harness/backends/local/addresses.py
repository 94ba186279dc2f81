"""Where a local stack's services are: a free loopback port per (service, container port),
`service:port` rewritten to it (the stack's service DNS), and bind mounts and named volumes
as directories of the stack's temp dir. A base of `LocalStack`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from harness.backends.base import Stack
from harness.backends.local.ports import free_port
from harness.errors import StackError

KIND_PORTS = {"postgres": 5432, "redis": 6379, "toxiproxy": 8474}
_PORT_TOKEN = re.compile(r"\{port:(\d+)\}")


class LocalAddresses(Stack):
    """Ports, names and mounts of a local stack (set up before any process starts)."""

    dir: Path
    _ports: dict[tuple[str, int], int]

    # -- addresses ---------------------------------------------------------------------
    def _kind(self, service: str) -> str:
        return self.compose.kind(service)

    def _allocate_ports(self) -> dict[tuple[str, int], int]:
        wanted: set[tuple[str, int]] = set()
        for name, spec in self.compose.services().items():
            kind = self._kind(name)
            if kind in KIND_PORTS:
                wanted.add((name, KIND_PORTS[kind]))
            for entry in spec.get("ports", []) or []:
                wanted.add((name, int(str(entry).rsplit(":", 1)[-1])))
            local_text = json.dumps(spec.get("x-local") or {})
            wanted.update((name, int(p)) for p in _PORT_TOKEN.findall(local_text))
            if kind == "toxiproxy":
                wanted.update((name, link.listen_port) for link in self.compose.proxies)
        for link in self.compose.proxies:
            wanted.add((link.upstream_service, link.upstream_port))
        return {key: free_port() for key in sorted(wanted)}

    def endpoint(self, service: str, container_port: int) -> tuple[str, int]:
        try:
            return "127.0.0.1", self._ports[(service, container_port)]
        except KeyError:
            raise StackError(f"service {service!r} exposes no port {container_port}") from None

    def published(self, host_port: int) -> tuple[str, int] | None:
        for name in self.compose.service_names:
            for host, container in self.compose_ports(name):
                if host == host_port:
                    return self.endpoint(name, container)
        for (name, container), port in self._ports.items():  # well-known service ports
            if container == host_port and self._kind(name) in ("postgres", "redis"):
                return "127.0.0.1", port
        return None

    def compose_ports(self, service: str) -> list[tuple[int, int]]:
        out = []
        for entry in self.compose.spec(service).get("ports", []) or []:
            host, _, container = str(entry).rpartition(":")
            out.append((int(host or container), int(container)))
        return out

    def _rewrite(self, value: str, service: str) -> str:
        value = value.replace("{python}", sys.executable)
        value = _PORT_TOKEN.sub(lambda m: str(self._ports[(service, int(m.group(1)))]), value)
        for (svc, port), hp in self._ports.items():
            value = re.sub(rf"(?<![\w.-]){re.escape(svc)}:{port}\b", f"127.0.0.1:{hp}", value)
        for container_path, host_dir in self._mounts(service).items():
            if value == container_path or value.startswith(container_path + "/"):
                value = str(host_dir) + value[len(container_path) :]
        return value

    def _mounts(self, service: str) -> dict[str, Path]:
        mounts = {}
        for vol in self.compose.spec(service).get("volumes", []) or []:
            source, _, target = str(vol).partition(":")
            target = target.split(":", 1)[0]
            if source.startswith((".", "/")):
                host = (self.dir / source).resolve() if not source.startswith("/") else Path(source)
            else:
                host = self.dir / "volumes" / source
            mounts[target] = host
        return mounts
