"""Hosts, ports and URLs a runbook names, checked against the compose file: a loopback
port needs a published host port, `service:PORT` a port the service listens on, and a
host a service or container of that name. The provider API is the mock LLM's."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.runbook.lint_metrics import METRICS_SERVICE
from harness.runbook.lint_stack import Findings, Where
from harness.topology import LOOPBACK, PROVIDER_HOSTS


class AddressChecks(Findings):
    def host_port(
        self,
        host: str,
        port: int | None,
        where: Where,
        container: str | None = None,
        what: str = "",
    ) -> None:
        host = host.strip("[]").lower()
        if host in PROVIDER_HOSTS:
            return  # the provider API: the stack's mock LLM answers it
        if host in LOOPBACK:
            if port is not None:
                self._loopback_port(host, port, where, container, what)
            return
        self._service_port(host, port, where, what)

    def _loopback_port(
        self, host: str, port: int, where: Where, container: str | None, what: str
    ) -> None:
        """`localhost:PORT`: on the host a published port; inside a container its own."""
        if container is not None:
            service = self.stack.service_of_host(container)
            if service and port not in self.stack.listens.get(service, set()):
                self.miss(
                    "port",
                    f"{container}:{port}",
                    f"{what}nothing in service {service!r} is known to listen on {port}",
                    *where,
                )
            return
        if port not in self.stack.published:
            published = ", ".join(map(str, sorted(self.stack.published))) or "none"
            self.miss(
                "port",
                f"{host}:{port}" if port else host,
                f"the compose file publishes no host port {port} (published: {published})",
                *where,
            )

    def _service_port(self, host: str, port: int | None, where: Where, what: str) -> None:
        """`service:PORT` (or a container name): the service exists and listens on PORT."""
        service = self.stack.service_of_host(host)
        if service is None:
            self.miss(
                "host",
                host,
                f"{what}no service or container named {host!r} in the compose file",
                *where,
            )
        elif port is not None and port not in self.stack.listens.get(service, set()):
            ports = (
                ", ".join(map(str, sorted(self.stack.listens.get(service, set())))) or "none known"
            )
            self.miss(
                "port",
                f"{host}:{port}" if port else host,
                f"{what}service {service!r} listens on {ports}, not {port}",
                *where,
            )

    def url(self, url: str, where: Where, container: str | None = None) -> None:
        parts = urlsplit(url if "://" in url else "http://" + url)
        if not parts.hostname:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return
        self.host_port(parts.hostname, port, where, container, what=f"{url}: ")

    def scrapes_service(self, words: list[str]) -> bool:
        """`curl` of the TestGen service's /metrics (the one metrics.py describes)."""
        if words[0].rsplit("/", 1)[-1] != "curl":
            return False
        for word in words[1:]:
            if "://" not in word or "/metrics" not in word:
                continue
            parts = urlsplit(word)
            host = (parts.hostname or "").lower()
            try:
                port = parts.port or 80
            except ValueError:
                continue
            if host in LOOPBACK:
                service = self.stack.published_by.get(port)
            else:
                service = self.stack.service_of_host(host)
            if service == METRICS_SERVICE:
                return True
        return False
