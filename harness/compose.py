"""`docker-compose.chaos.yml`: the stack's topology, read the way Compose reads it.

Both backends start services from the same resolved configuration, and the command bridge
uses `ServiceConfig.fingerprint()` to decide, as `docker-compose up -d` does, which services
must be recreated because their configuration changed (e.g. after `.env` was edited).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ComposeError

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
_KNOWN_KEYS = {
    "image",
    "container_name",
    "command",
    "environment",
    "ports",
    "volumes",
    "depends_on",
    "restart",
    "healthcheck",
    "profiles",
    "mem_limit",
    "x-local",
    "env_file",
    "entrypoint",
}
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR, and $$ as an escape.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>\{[^}]*\}?))"
)


def parse_dotenv(text: str) -> dict[str, str]:
    """Compose's `.env` syntax: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def interpolate(text: str, env: Mapping[str, str], where: str) -> tuple[str, list[str]]:
    """Substitute variables as Compose does; returns the value and warnings for unset ones."""
    warnings: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            raise ComposeError(where, f"invalid interpolation format {m.group(0)!r}")
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return interpolate(arg, env, where)[0]
            return value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise ComposeError(where, f"required variable {name} is missing a value: {arg}")
            return value
        if value is None:
            warnings.append(f'The "{name}" variable is not set. Defaulting to a blank string.')
            return ""
        return value

    return _VAR.sub(substitute, text), warnings


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval_s: float = 1.0
    timeout_s: float = 2.0
    retries: int = 30


@dataclass(frozen=True)
class ServiceConfig:
    """One service with every variable resolved: what a container is created with."""

    name: str
    image: str
    container_name: str  # Compose's default is <project>-<service>-1
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    ports: tuple[tuple[int, int], ...]  # (host, container)
    volumes: tuple[str, ...]
    depends_on: tuple[str, ...]
    restart: str
    profiles: tuple[str, ...]
    mem_limit_bytes: int | None
    healthcheck: Healthcheck | None
    local: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @property
    def has_fixed_container_name(self) -> bool:
        return "container_name" in self.local.get("_declared", ())

    def fingerprint(self) -> str:
        """Hash of everything that, when changed, makes `up -d` recreate the container."""
        material = json.dumps(
            [
                self.image,
                self.command,
                self.environment,
                self.ports,
                self.volumes,
                self.restart,
                self.mem_limit_bytes,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ProxyLink:
    """A fault-proxy link: Toxiproxy's proxy `name` listening on `listen`, to `upstream`."""

    name: str
    listen: str
    upstream: str

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def upstream_service(self) -> str:
        return self.upstream.rsplit(":", 1)[0]

    @property
    def upstream_port(self) -> int:
        return int(self.upstream.rsplit(":", 1)[1])


def parse_memory(value: object, where: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", str(value).strip().lower())
    if not m:
        raise ComposeError(where, f"mem_limit {value!r} is not a size like 256m")
    scale = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2)]
    return int(float(m.group(1)) * scale)


class ComposeFile:
    """A validated compose file; `resolve()` interpolates it against an environment."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        where = str(self.path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ComposeError(where, "no such compose file") from None
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise ComposeError(where, f"cannot read compose file: {exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark else ""
            raise ComposeError(where, f"{line}not valid YAML") from None
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            raise ComposeError(where, "top-level 'services' mapping is missing")
        if not data["services"]:
            raise ComposeError(where, "'services' is empty")
        self.raw: dict[str, Any] = data
        self.project = str(data.get("name") or self.path.parent.name)
        for name, spec in data["services"].items():
            self._validate_service(str(name), spec)
        self.proxies = self._proxies()
        hp = data.get("x-host-paths") or {}
        if not isinstance(hp, dict):
            raise ComposeError(where, "'x-host-paths' must map production paths to stack paths")
        self.host_paths: dict[str, str] = {str(k): str(v) for k, v in hp.items()}
        # Fail now, before anything starts: interpolation syntax, sizes, dependency cycles.
        self.resolve(dict(os.environ))
        self.startup_order(self.service_names)

    @property
    def service_names(self) -> list[str]:
        return list(self.raw["services"])

    # Read-only views of the file as written; nothing outside this module reads `raw`.
    def services(self) -> dict[str, dict[str, Any]]:
        """Service name -> its declaration as written (before interpolation)."""
        return dict(self.raw["services"])

    def spec(self, service: str) -> dict[str, Any]:
        """One service's declaration as written (ports, volumes, `x-local`, ...)."""
        return dict(self.raw["services"][service])

    def volumes(self) -> dict[str, dict[str, Any]]:
        """Named volume -> its declaration (`name:` and the like; {} when bare)."""
        return {str(k): dict(v or {}) for k, v in (self.raw.get("volumes") or {}).items()}

    @property
    def volume_names(self) -> list[str]:
        """The named volumes the file declares (top-level `volumes:`)."""
        return [str(v) for v in (self.raw.get("volumes") or {})]

    def _validate_service(self, name: str, spec: object) -> None:
        where = str(self.path)
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
            raise ComposeError(where, f"service name {name!r} is not valid")
        if not isinstance(spec, dict):
            raise ComposeError(where, f"service {name!r} must be a mapping")
        unknown = set(spec) - _KNOWN_KEYS
        if unknown:
            raise ComposeError(where, f"service {name!r} has unsupported keys: {sorted(unknown)}")
        if "image" not in spec:
            raise ComposeError(where, f"service {name!r} has no image")
        restart = str(spec.get("restart", "no")).split(":", 1)[0]
        if restart not in RESTART_POLICIES:
            raise ComposeError(where, f"service {name!r}: unknown restart policy {restart!r}")
        deps = spec.get("depends_on", [])
        dep_names = list(deps) if isinstance(deps, dict | list) else None
        if dep_names is None:
            raise ComposeError(where, f"service {name!r}: depends_on must be a list or mapping")
        for dep in dep_names:
            if dep not in self.raw["services"]:
                raise ComposeError(where, f"service {name!r} depends on undefined service {dep!r}")
        for entry in spec.get("ports", []) or []:
            if not re.fullmatch(r"(\d+:)?\d+", str(entry)):
                raise ComposeError(where, f"service {name!r}: port {entry!r} is not HOST:CONTAINER")
        env = spec.get("environment", {})
        if not isinstance(env, dict | list):
            raise ComposeError(where, f"service {name!r}: environment must be a mapping or list")

    def _proxies(self) -> list[ProxyLink]:
        links = []
        for i, item in enumerate(self.raw.get("x-proxies") or []):
            try:
                link = ProxyLink(str(item["name"]), str(item["listen"]), str(item["upstream"]))
                link.listen_port, link.upstream_port  # noqa: B018 - validates the ports
            except (KeyError, TypeError, ValueError, IndexError):
                raise ComposeError(
                    str(self.path),
                    f"x-proxies[{i}] needs name, listen HOST:PORT, upstream HOST:PORT",
                ) from None
            if link.upstream_service not in self.raw["services"]:
                raise ComposeError(
                    str(self.path), f"x-proxies[{i}]: upstream {link.upstream!r} is not a service"
                )
            links.append(link)
        return links

    def resolve(
        self, shell_env: Mapping[str, str], dotenv: Mapping[str, str] | None = None
    ) -> tuple[dict[str, ServiceConfig], list[str]]:
        """Interpolate every service: the operator's shell wins over `.env`, as in Compose."""
        env = {**(dotenv or {}), **shell_env}
        warnings: list[str] = []
        where = str(self.path)

        def sub(value: object) -> str:
            text, warns = interpolate(str(value), env, where)
            warnings.extend(w for w in warns if w not in warnings)
            return text

        configs = {}
        for name, spec in self.raw["services"].items():
            raw_env = spec.get("environment", {}) or {}
            if isinstance(raw_env, list):
                pairs = [str(e).partition("=") for e in raw_env]
                raw_env = {k: (v if sep else env.get(k, "")) for k, sep, v in pairs}
            environment = tuple(
                sorted((str(k), sub(v if v is not None else "")) for k, v in raw_env.items())
            )
            command = spec.get("command", [])
            command_t = (
                tuple(sub(c) for c in command)
                if isinstance(command, list)
                else tuple(sub(command).split())
            )
            ports = []
            for entry in spec.get("ports", []) or []:
                host, _, container = str(entry).rpartition(":")
                ports.append((int(host or container), int(container)))
            deps = spec.get("depends_on", [])
            hc = spec.get("healthcheck")
            health = None
            if isinstance(hc, dict) and "test" in hc:
                test = hc["test"]
                health = Healthcheck(
                    tuple(test) if isinstance(test, list) else ("CMD-SHELL", str(test)),
                    _seconds(hc.get("interval", "1s")),
                    _seconds(hc.get("timeout", "2s")),
                    int(hc.get("retries", 30)),
                )
            mem = spec.get("mem_limit")
            mem_text = sub(mem) if mem is not None else ""
            local = dict(spec.get("x-local") or {})
            local["_declared"] = tuple(spec)
            configs[name] = ServiceConfig(
                name=name,
                image=sub(spec["image"]),
                container_name=str(spec.get("container_name") or f"{self.project}-{name}-1"),
                command=command_t,
                environment=environment,
                ports=tuple(ports),
                volumes=tuple(sub(v) for v in spec.get("volumes", []) or []),
                depends_on=tuple(deps),
                restart=str(spec.get("restart", "no")),
                profiles=tuple(spec.get("profiles", []) or []),
                mem_limit_bytes=parse_memory(mem_text, where) if mem_text else None,
                healthcheck=health,
                local=local,
            )
        return configs, warnings

    def startup_order(self, names: list[str] | None = None) -> list[str]:
        """Services (and, transitively, what they depend on) in dependency order."""
        wanted = (
            names
            if names is not None
            else [n for n, s in self.raw["services"].items() if not s.get("profiles")]
        )
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ComposeError(str(self.path), f"dependency cycle through {name!r}")
            visiting.add(name)
            for dep in self.raw["services"][name].get("depends_on", []) or []:
                visit(dep)
            visiting.discard(name)
            order.append(name)

        for n in wanted:
            if n not in self.raw["services"]:
                raise ComposeError(str(self.path), f"no such service: {n}")
            visit(n)
        return order


def _seconds(value: object) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", str(value).strip())
    if not m:
        return 1.0
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
