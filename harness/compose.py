"""The stack's model: the team's deployment with the chaos layer applied, read as Compose would.

    deployments/<team>/docker-compose.yml ─┐  (x-deployment of the layer, --deployment DIR,
                                           │   or GAMEDAY_DEPLOYMENT)
    docker-compose.chaos.yml ──────────────┴─ merge (compose_merge.py) ─▶ ComposeFile
                                                 └─ resolve(shell, .env) ─▶ ServiceConfig

Both backends start services from the same resolved configuration, and the command bridge
uses `ServiceConfig.fingerprint()` to decide, as `docker-compose up -d` does, which services
must be recreated because their configuration changed (e.g. after `.env` was edited). A
compose file without `x-deployment` is a whole project by itself (small test fixtures).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.compose_merge import (
    as_mapping,
    deployment_compose,
    interpolate,
    line_of,
    merge_project,
    parse_dotenv,
    read_yaml,
    roles_of,
    strip_fence,
    volume_target,
)
from harness.errors import ComposeError, StackError

__all__ = [
    "ComposeFile",
    "Healthcheck",
    "ProxyLink",
    "ServiceConfig",
    "StandIn",
    "interpolate",
    "parse_dotenv",
]

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
    # Read from the deployment; the harness keeps them as declared (drift findings) or
    # applies them where a backend can (build → the image's tools, deploy → memory limit).
    "build",
    "deploy",
    "networks",
    "pull_policy",
    "stdin_open",
    "tty",
    "labels",
    "expose",
    "working_dir",
    "user",
    "logging",
    "extra_hosts",
    "init",
    "stop_signal",
    "stop_grace_period",
    "ulimits",
    "shm_size",
    "cap_add",
    "security_opt",
}
DEPLOYMENT_ENV = "GAMEDAY_DEPLOYMENT"  # a deployment dir, inherited by worker processes


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
    def requirepass(self) -> str | None:
        """The password Redis requires (`--requirepass` in its command), if it requires one."""
        return command_flag(self.command, "--requirepass")

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


def command_flag(command: tuple[str, ...], flag: str) -> str | None:
    """The value of `--flag VALUE` (or `--flag=VALUE`) in a command, the last one winning."""
    found = None
    for i, token in enumerate(command):
        if token == flag and i + 1 < len(command):
            found = command[i + 1]
        elif token.startswith(flag + "="):
            found = token[len(flag) + 1 :]
    return found


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


@dataclass(frozen=True)
class StandIn:
    """Something the chaos layer supplies because the deployment lacks it or it cannot run
    here (an HTTP API the deployment never starts, a log file, a GPU service); every report
    lists each one with its reason."""

    name: str
    reason: str
    service: str | None = None  # the compose service that plays it, if any
    serves: tuple[str, ...] = ()  # production addresses the runbook reaches it at
    container: str | None = None  # its container name (`docker logs/exec NAME` reach it)
    deployment: str = "the deployment runs no HTTP server"  # `x-stand-in.deployment`


class ComposeFile:
    """The stack's model; `resolve()` interpolates it against an environment.

    ComposeFile("docker-compose.chaos.yml")                    # layer over its x-deployment
    ComposeFile("docker-compose.chaos.yml", deployment="deployments/testgen-head")
    """

    def __init__(self, path: str | Path, deployment: str | Path | None = None) -> None:
        self.path = Path(path)
        where = str(self.path)
        layer = read_yaml(self.path, "compose file")
        if not isinstance(layer, dict):
            raise ComposeError(where, "top-level 'services' mapping is missing")
        chosen = deployment or os.environ.get(DEPLOYMENT_ENV) or layer.get("x-deployment")
        self.deployment_dir: Path | None = None
        self.deployment_file: Path | None = None
        self.deployment_raw: dict[str, Any] = {}
        data = layer
        if chosen:
            base_dir = Path(str(chosen))
            if (
                not base_dir.is_absolute()
                and deployment is None
                and not os.environ.get(DEPLOYMENT_ENV)
            ):
                base_dir = self.path.parent / base_dir  # x-deployment: relative to the layer
            self.deployment_dir = base_dir
            self.deployment_file = deployment_compose(base_dir)
            base = read_yaml(self.deployment_file, "deployment compose file")
            if not isinstance(base, dict) or not isinstance(base.get("services"), dict):
                raise ComposeError(
                    str(self.deployment_file), "top-level 'services' mapping is missing"
                )
            self.deployment_raw = base
            for name, spec in (layer.get("services") or {}).items():
                if (
                    name not in base["services"]
                    and isinstance(spec, dict)
                    and ("image" not in spec and "build" not in spec)
                ):
                    raise ComposeError(
                        where,
                        f"the chaos layer overrides service {name!r}, which the deployment "
                        f"{self.deployment_file} does not define",
                    )
            data = merge_project(base, layer)
        if not isinstance(data.get("services"), dict):
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
        self.roles = roles_of(data, where)  # x-roles: a renamed deployment's services
        # Fail now, before anything starts: interpolation syntax, sizes, dependency cycles.
        self.resolve(dict(os.environ))
        self.startup_order(self.service_names)

    def role(self, name: str) -> str:
        return self.roles.get(name, name)  # the service playing `name` (itself by default)

    def kind(self, service: str) -> str:
        """postgres | redis | toxiproxy | process: the role a service plays (its `x-local`
        kind, else read from its image, so a deployment's renamed services keep theirs)."""
        spec = self.spec(service)
        declared = (spec.get("x-local") or {}).get("kind")
        if declared:
            return str(declared)
        image = str(spec.get("image", "")).lower().rsplit("/", 1)[-1]
        for kind in ("toxiproxy", "postgres", "redis"):
            if image.startswith(kind) or service == kind:
                return kind
        return "process"

    # -- the deployment under the layer ----------------------------------------------------
    def stand_ins(self) -> list[StandIn]:
        """Every stand-in of the chaos layer with its reason: services marked `x-stand-in`
        that the layer adds or whose image or command it replaces, and the top-level
        `x-stand-ins` (a file no deployment service mounts the directory of)."""
        out = []
        for name, spec in self.raw["services"].items():
            mark = spec.get("x-stand-in")
            if not isinstance(mark, dict) or not self._replaced(name):
                continue
            label = str(mark.get("name") or spec.get("container_name") or name)
            serves = tuple(str(a) for a in mark.get("serves") or ())
            reason = str(mark.get("reason", "")).strip()
            container = str(spec.get("container_name") or f"{self.project}-{name}-1")
            instead = str(mark.get("deployment") or StandIn.deployment).strip()
            out.append(StandIn(label, reason, name, serves, container, instead))
        mounted = [
            volume_target(v)
            for spec in (self.deployment_raw.get("services") or {}).values()
            for v in (spec or {}).get("volumes") or []
        ]
        for label, reason in (self.raw.get("x-stand-ins") or {}).items():
            if not any(str(label).startswith(t.rstrip("/") + "/") for t in mounted):
                out.append(StandIn(str(label), str(reason).strip()))
        return out

    def _replaced(self, service: str) -> bool:
        """The layer adds the service, or runs something else than the deployment declares."""
        if self.deployment_file is None:
            return True
        base = self.deployment_spec(service)
        merged = self.raw["services"][service]
        return not base or any(base.get(k) != merged.get(k) for k in ("image", "command"))

    def deployment_spec(self, service: str) -> dict[str, Any]:
        """A service as the deployment declares it (before the chaos layer); {} if absent."""
        return dict((self.deployment_raw.get("services") or {}).get(service) or {})

    def deployment_line(self, pattern: str) -> str | None:
        """`<deployment file>:<line>` of the first line matching the regex, for reasons that
        name where the deployment says so."""
        if self.deployment_file is None:
            return None
        text = strip_fence(self.deployment_file.read_text(encoding="utf-8"))
        line = line_of(text, pattern)
        return None if line is None else f"{_shown(self.deployment_file)}:{line}"

    def env_examples(self) -> list[Path]:
        """`.env.example` files, the deployment's first: the operator's `.env` starts as them
        (the layer's adds only what its stand-ins need)."""
        dirs = [d for d in (self.deployment_dir, self.path.parent) if d is not None]
        return [d / ".env.example" for d in dict.fromkeys(dirs) if (d / ".env.example").exists()]

    def layer_notes(self, configs: Mapping[str, ServiceConfig]) -> list[str]:
        """What a scenario sets through the chaos layer that changes how a service behaves
        under a fault (a memory limit), against what the deployment declares: named in
        every result's notes."""
        notes = []
        for name, cfg in configs.items():
            source = cfg.local.get("_mem_limit_from")
            if not source or cfg.mem_limit_bytes is None:
                continue
            declared = _declared_memory(self.deployment_spec(name))
            where = _shown(self.deployment_file) if self.deployment_file else str(self.path)
            theirs = f"sets {declared}" if declared is not None else "sets none"
            notes.append(
                f"{cfg.container_name}: memory limit {cfg.mem_limit_bytes // 2**20} MiB set by "
                f"the scenario ({source}, through the chaos layer); the deployment ({where}) "
                f"{theirs}"
            )
        return notes

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
        unknown = {k for k in unknown if not str(k).startswith("x-")}
        if unknown:
            raise ComposeError(where, f"service {name!r} has unsupported keys: {sorted(unknown)}")
        if "image" not in spec and "build" not in spec:
            raise ComposeError(where, f"service {name!r} has neither image nor build")
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
            if not re.fullmatch(r"((\d+\.){3}\d+:)?(\d+:)?\d+(/(tcp|udp))?", str(entry)):
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

        configs = {
            name: self._service(name, spec, env, sub) for name, spec in self.raw["services"].items()
        }
        for name, spec in self.raw["services"].items():
            derived = spec.get("x-from-deployment") or {}
            if derived:
                cfg = configs[name]
                values = {
                    **cfg.env,
                    **{
                        str(k): _from_deployment(str(v), configs, where) for k, v in derived.items()
                    },
                }
                configs[name] = dataclasses.replace(cfg, environment=tuple(sorted(values.items())))
        return configs, warnings

    def _service(
        self, name: str, spec: dict[str, Any], env: Mapping[str, str], sub: Any
    ) -> ServiceConfig:
        where = str(self.path)
        raw_env = as_mapping(spec.get("environment", {}) or {})
        # A bare `KEY` passes the operator's value through (or nothing when unset).
        environment = tuple(
            sorted(
                (k, sub(v) if v is not None else env[k])
                for k, v in raw_env.items()
                if v is not None or k in env
            )
        )
        command = spec.get("command", [])
        command_t = (
            tuple(sub(c) for c in command)
            if isinstance(command, list)
            else tuple(shlex.split(sub(command)))
        )
        ports = []
        for entry in spec.get("ports", []) or []:
            parts = str(entry).split("/", 1)[0].split(":")
            ports.append((int(parts[-2] if len(parts) > 1 else parts[-1]), int(parts[-1])))
        deps = spec.get("depends_on", [])
        hc = spec.get("healthcheck")
        health = None
        if isinstance(hc, dict) and "test" in hc and not hc.get("disable"):
            test = hc["test"]
            # Interpolated as every value is: `$$POSTGRES_USER` reaches the container's shell
            # as `$POSTGRES_USER` (left as `$$`, the shell would read its own pid).
            health = Healthcheck(
                tuple(sub(t) for t in test) if isinstance(test, list) else ("CMD-SHELL", sub(test)),
                _seconds(hc.get("interval", "1s")),
                _seconds(hc.get("timeout", "2s")),
                int(hc.get("retries", 30)),
            )
        mem = _declared_memory(spec)
        mem_text = sub(mem) if mem is not None else ""
        scenario_limit = spec.get("x-mem-limit-from")  # a variable a scenario may set
        limit_from = ""
        if scenario_limit and env.get(str(scenario_limit)):
            mem_text = env[str(scenario_limit)]
            limit_from = f"{scenario_limit}={mem_text}"
        local = dict(spec.get("x-local") or {})
        local["_declared"] = tuple(spec)
        local["_mem_limit_from"] = limit_from
        return ServiceConfig(
            name=name,
            # Compose names a built image <project>-<service>.
            image=sub(spec["image"]) if "image" in spec else f"{self.project}-{name}",
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
            if names is None:  # a plain `up`: a profiled service is not in the project
                for dep in self.raw["services"][n].get("depends_on", []) or []:
                    if self.raw["services"][dep].get("profiles"):  # Compose refuses `up`
                        raise StackError(
                            f'service "{n}" depends on undefined service "{dep}": '
                            "invalid compose project"
                        )
            visit(n)
        return order


def _seconds(value: object) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", str(value).strip())
    if not m:
        return 1.0
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


def _shown(path: Path) -> str:
    """A path as reasons show it: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _declared_memory(spec: Mapping[str, Any]) -> object:
    """`mem_limit`, or Compose v2's `deploy.resources.limits.memory` (which it applies too)."""
    if spec.get("mem_limit") not in (None, ""):
        return spec["mem_limit"]
    deploy = spec.get("deploy") or {}
    limits = (
        ((deploy.get("resources") or {}).get("limits") or {}) if isinstance(deploy, dict) else {}
    )
    return limits.get("memory") if isinstance(limits, dict) else None


# `{redis.requirepass}`, `{postgres.env.POSTGRES_USER}`: values a stand-in takes from the
# deployment's resolved services (`x-from-deployment`), so it connects as the deployment's
# own clients must (its Redis password, its PostgreSQL login) whatever the deployment sets.
_FROM = re.compile(
    r"\{(?P<service>[A-Za-z0-9][A-Za-z0-9_.-]*?)\.(?P<what>requirepass|env\.[A-Za-z_][A-Za-z0-9_]*)\}"
)


def _from_deployment(template: str, configs: Mapping[str, ServiceConfig], where: str) -> str:
    def value(m: re.Match[str]) -> str:
        cfg = configs.get(m.group("service"))
        if cfg is None:
            raise ComposeError(where, f"x-from-deployment: no service {m.group('service')!r}")
        what = m.group("what")
        raw = cfg.requirepass or "" if what == "requirepass" else cfg.env.get(what[4:], "")
        # Inside a URL the value is a userinfo part: quote it.
        return quote(raw, safe="") if "://" in template else raw

    return _FROM.sub(value, template)
