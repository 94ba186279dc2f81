"""What the compose file has, in the terms a runbook uses (services, containers, images,
published and listening ports, mapped host paths), and the findings a lint collects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.compose import ComposeFile, ServiceConfig

URL = re.compile(r"\bhttps?://[^\s`'\"<>)]+")
Where = tuple[int, str, str]  # runbook line, the command (or text) that names it, section


@dataclass
class Finding:
    kind: str  # manual | service | container | image | host | port | file | metric
    name: str
    reason: str
    lines: list[int] = field(default_factory=list)
    command: str = ""  # the first command (or text) that names it
    section: str = ""


class LintStack:
    """What the compose file has, in the terms the runbook uses."""

    def __init__(self, compose: ComposeFile) -> None:
        self.compose = compose
        configs, _ = compose.resolve({})
        self.configs: dict[str, ServiceConfig] = configs
        self.services = set(configs)
        self.containers = {c.container_name: name for name, c in configs.items()}
        self.images = {c.image for c in configs.values()}
        self.images |= {i.removesuffix(":latest") for i in self.images}
        self.published_by = {host: name for name, c in configs.items() for host, _ in c.ports}
        self.published = set(self.published_by)
        self.listens: dict[str, set[int]] = {
            name: {cp for _, cp in c.ports} for name, c in configs.items()
        }
        for link in compose.proxies:
            self.listens.setdefault(link.upstream_service, set()).add(link.upstream_port)
            for name in self.services:
                if compose.spec(name).get("x-local", {}).get("kind") == "toxiproxy":
                    self.listens[name].add(link.listen_port)
        for name, c in configs.items():
            text = (
                " ".join(map(str, c.local.get("command", []) or []))
                + " "
                + " ".join(map(str, (c.local.get("env") or {}).values()))
            )
            self.listens[name] |= {int(p) for p in re.findall(r"\{port:(\d+)\}", text)}
            if c.healthcheck:
                for url in URL.findall(" ".join(c.healthcheck.test)):
                    port = urlsplit(url).port
                    if port:
                        self.listens[name].add(port)
        self.host_paths = dict(compose.host_paths)
        self.configured_files = {
            v for c in configs.values() for _, v in c.environment if v.startswith("/")
        }
        self.base = compose.path.parent

    def service_of_host(self, host: str) -> str | None:
        if host in self.services:
            return host
        return self.containers.get(host)


class Findings:
    """The names a lint found missing, one finding per (kind, name) with every line."""

    def __init__(self, stack: LintStack) -> None:
        self.stack = stack
        self.found: dict[tuple[str, str], Finding] = {}

    def miss(
        self, kind: str, name: str, reason: str, line: int, command: str, section: str
    ) -> None:
        f = self.found.setdefault(
            (kind, name), Finding(kind, name, reason, [], " ".join(command.split()), section)
        )
        if line not in f.lines:
            f.lines.append(line)
