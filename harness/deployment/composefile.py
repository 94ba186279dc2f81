"""A team's compose file as its deployment defines it, every setting with its source line.

This is a reader for checks (drift), not the stack's topology (`harness/compose.py` is that):
it keeps what a runbook step runs into (names, ports, commands, profiles, environment,
mounts, GPU reservations, pull policies, fixed networks) and where each is written.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from harness.deployment.source import SourceFile
from harness.deployment.yamllines import YamlDoc, YamlError, load_yaml

# ${VAR}, ${VAR:-default}, ${VAR?err}, $VAR; `$$` is an escaped dollar.
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Port:
    host: int | None  # None: not published on the host (container port only)
    container: int
    line: int


@dataclass(frozen=True)
class Mount:
    source: str  # host path or volume name ("" for an anonymous volume)
    target: str
    line: int

    @property
    def is_bind(self) -> bool:
        return self.source.startswith(("/", ".", "~", "$"))


@dataclass
class Service:
    name: str
    line: int
    container_name: str | None = None
    container_line: int | None = None
    image: str | None = None
    image_line: int | None = None
    build_context: str | None = None
    build_dockerfile: str = "Dockerfile"
    build_target: str | None = None
    build_line: int | None = None
    target_line: int | None = None
    command: tuple[str, ...] | None = None
    command_line: int | None = None
    entrypoint: tuple[str, ...] | None = None
    entrypoint_line: int | None = None
    ports: list[Port] = field(default_factory=list)
    environment: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    env_files: list[tuple[str, int]] = field(default_factory=list)
    volumes: list[Mount] = field(default_factory=list)
    profiles: tuple[str, ...] = ()
    profiles_line: int | None = None
    depends_on: dict[str, int] = field(default_factory=dict)
    restart: str | None = None
    restart_line: int | None = None
    healthcheck: tuple[str, ...] | None = None
    healthcheck_line: int | None = None
    gpu_line: int | None = None  # deploy.resources.reservations.devices asks for a GPU
    pull_policy: str | None = None
    pull_policy_line: int | None = None
    mem_limit: str | None = None
    interactive: bool = False  # stdin_open / tty

    @property
    def shown_name(self) -> str:
        """What `docker ps` shows: the container name, else the service name."""
        return self.container_name or self.name


@dataclass(frozen=True)
class Network:
    key: str
    line: int
    fixed_name: str | None
    name_line: int | None
    subnets: tuple[tuple[str, int], ...]


@dataclass
class ComposeFile:
    source: SourceFile
    error: str | None = None  # why Compose cannot load the file as it stands
    services: dict[str, Service] = field(default_factory=dict)
    networks: list[Network] = field(default_factory=list)
    volumes: dict[str, int] = field(default_factory=dict)
    interpolated: dict[str, int] = field(default_factory=dict)  # variable -> first line
    project_name: str | None = None
    services_line: int | None = None
    volumes_line: int | None = None  # the top-level `volumes:` key
    # variable -> {service: line} for the services whose definition interpolates it
    passed_to: dict[str, dict[str, int]] = field(default_factory=dict)

    def by_container(self, name: str) -> Service | None:
        for service in self.services.values():
            if service.container_name == name:
                return service
        return None

    def publishers(self, host_port: int) -> list[tuple[Service, Port]]:
        return [(s, p) for s in self.services.values() for p in s.ports if p.host == host_port]


def _words(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    try:
        return tuple(shlex.split(str(value)))
    except ValueError:
        return tuple(str(value).split())


def _port(item: Any, line: int) -> Port | None:
    if isinstance(item, dict):
        target, published = item.get("target"), item.get("published")
        if target is None:
            return None
        return Port(int(published) if published else None, int(target), line)
    text = str(item).split("/")[0]
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return Port(None, int(parts[0].split("-")[0]), line)
        return Port(int(parts[-2].split("-")[0]), int(parts[-1].split("-")[0]), line)
    except ValueError:
        return None


def _mount(item: Any, line: int) -> Mount:
    if isinstance(item, dict):
        return Mount(str(item.get("source", "")), str(item.get("target", "")), line)
    parts = str(item).split(":")
    if len(parts) == 1:
        return Mount("", parts[0], line)
    return Mount(parts[0], parts[1], line)


def _environment(
    doc: YamlDoc, path: tuple[str, ...], raw: Any
) -> dict[str, tuple[str | None, int]]:
    out: dict[str, tuple[str | None, int]] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            out[str(key)] = (None if value is None else str(value), doc.line(*path, key) or 0)
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            key, sep, value = str(item).partition("=")
            out[key] = (value if sep else None, doc.line(*path, i) or 0)
    return out


def _service(doc: YamlDoc, name: str, raw: dict[str, Any]) -> Service:
    at = ("services", name)
    s = Service(name, doc.line(*at) or 0)
    if raw.get("container_name") is not None:
        s.container_name, s.container_line = (
            str(raw["container_name"]),
            doc.line(*at, "container_name"),
        )
    if raw.get("image") is not None:
        s.image, s.image_line = str(raw["image"]), doc.line(*at, "image")
    _build(s, doc, at, raw.get("build"))
    s.command, s.command_line = _words(raw.get("command")), doc.line(*at, "command")
    s.entrypoint, s.entrypoint_line = _words(raw.get("entrypoint")), doc.line(*at, "entrypoint")
    for i, item in enumerate(raw.get("ports") or []):
        port = _port(item, doc.line(*at, "ports", i) or 0)
        if port is not None:
            s.ports.append(port)
    s.environment = _environment(doc, at + ("environment",), raw.get("environment"))
    env_file = raw.get("env_file")
    for i, item in enumerate(
        env_file if isinstance(env_file, list) else [env_file] if env_file else []
    ):
        path = item.get("path") if isinstance(item, dict) else item
        s.env_files.append(
            (str(path), doc.line(*at, "env_file", i) or doc.line(*at, "env_file") or 0)
        )
    s.volumes = [
        _mount(v, doc.line(*at, "volumes", i) or 0) for i, v in enumerate(raw.get("volumes") or [])
    ]
    if raw.get("profiles"):
        s.profiles, s.profiles_line = (
            tuple(str(p) for p in raw["profiles"]),
            doc.line(*at, "profiles"),
        )
    deps = raw.get("depends_on") or []
    for i, dep in enumerate(deps):
        s.depends_on[str(dep)] = (
            doc.line(*at, "depends_on", dep if isinstance(deps, dict) else i) or 0
        )
    if raw.get("restart") is not None:
        s.restart, s.restart_line = str(raw["restart"]), doc.line(*at, "restart")
    _runtime(s, doc, at, raw)
    return s


def _build(s: Service, doc: YamlDoc, at: tuple[str, ...], build: Any) -> None:
    if build is None:
        return
    s.build_line = doc.line(*at, "build")
    if not isinstance(build, dict):
        s.build_context = str(build)
        return
    s.build_context = str(build.get("context", "."))
    s.build_dockerfile = str(build.get("dockerfile", "Dockerfile"))
    if build.get("target") is not None:
        s.build_target, s.target_line = str(build["target"]), doc.line(*at, "build", "target")


def _runtime(s: Service, doc: YamlDoc, at: tuple[str, ...], raw: dict[str, Any]) -> None:
    """Healthcheck, GPU reservation, pull policy, limits: what decides whether it runs."""
    health = raw.get("healthcheck")
    if isinstance(health, dict) and health.get("test") is not None:
        s.healthcheck = _words(health["test"])
        s.healthcheck_line = doc.line(*at, "healthcheck", "test")
    deploy = raw.get("deploy") or {}
    devices = ((deploy.get("resources") or {}).get("reservations") or {}).get("devices")
    if isinstance(devices, list) and any(_asks_gpu(d) for d in devices):
        s.gpu_line = doc.line(*at, "deploy", "resources", "reservations", "devices")
    if raw.get("pull_policy") is not None:
        s.pull_policy, s.pull_policy_line = str(raw["pull_policy"]), doc.line(*at, "pull_policy")
    s.mem_limit = str(raw["mem_limit"]) if raw.get("mem_limit") is not None else None
    s.interactive = bool(raw.get("stdin_open") or raw.get("tty"))


def _asks_gpu(device: Any) -> bool:
    if not isinstance(device, dict):
        return False
    caps = device.get("capabilities") or []
    return "gpu" in [str(c) for c in caps] or str(device.get("driver", "")) == "nvidia"


def _networks(doc: YamlDoc, raw: Any) -> list[Network]:
    out = []
    for key, spec in (raw or {}).items():
        spec = spec or {}
        subnets = []
        for i, item in enumerate(((spec.get("ipam") or {}).get("config")) or []):
            if isinstance(item, dict) and item.get("subnet"):
                line = doc.line("networks", key, "ipam", "config", i, "subnet") or 0
                subnets.append((str(item["subnet"]), line))
        name = spec.get("name")
        fixed = str(name) if name else None
        name_line = doc.line("networks", key, "name") if name else None
        out.append(
            Network(str(key), doc.line("networks", key) or 0, fixed, name_line, tuple(subnets))
        )
    return out


def interpolated_variables(text: str) -> dict[str, int]:
    """Variables Compose substitutes, with the first line each appears on (comments skipped)."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for m in _VARIABLE.finditer(line.split(" #", 1)[0]):
            name = m.group(1) or m.group(2)
            if name:
                found.setdefault(name, number)
    return found


def parse_compose_text(source: SourceFile) -> ComposeFile:
    """The compose model of `source.text` (its fence already off; `source.fence` reported by
    the caller). A file whose inside is not YAML either gets `error` and no services."""
    compose = ComposeFile(source)
    try:
        doc = load_yaml(source.text)
    except YamlError as exc:
        compose.error = f"not valid YAML: {exc}"
        return compose
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("services"), dict):
        compose.error = "no `services:` mapping: not a compose file"
        return compose
    compose.project_name = str(doc.data["name"]) if doc.data.get("name") else None
    for name, raw in doc.data["services"].items():
        compose.services[str(name)] = _service(doc, str(name), raw if isinstance(raw, dict) else {})
    compose.networks = _networks(doc, doc.data.get("networks"))
    compose.volumes = {str(k): doc.line("volumes", k) or 0 for k in (doc.data.get("volumes") or {})}
    compose.interpolated = interpolated_variables(source.text)
    compose.services_line = doc.line("services")
    compose.volumes_line = doc.line("volumes") if compose.volumes else None
    compose.passed_to = _passed_to(source.text, compose)
    return compose


def _passed_to(text: str, compose: ComposeFile) -> dict[str, dict[str, int]]:
    """Which services' definitions use each variable: a service spans the lines from its
    key to the next service's key (or the end of the `services:` block)."""
    starts = sorted((s.line, s.name) for s in compose.services.values())
    top_level = [
        n
        for n, line in enumerate(text.splitlines(), 1)
        if line[:1].isalpha() and n > (compose.services_line or 0)
    ]
    end = top_level[0] if top_level else len(text.splitlines()) + 1
    bounds = [
        (start, starts[i + 1][0] if i + 1 < len(starts) else end, name)
        for i, (start, name) in enumerate(starts)
    ]
    out: dict[str, dict[str, int]] = {}
    lines = text.splitlines()
    for start, stop, name in bounds:
        for number in range(start, min(stop, len(lines) + 1)):
            found = interpolated_variables(lines[number - 1])
            for var in found:
                out.setdefault(var, {}).setdefault(name, number)
    return out
