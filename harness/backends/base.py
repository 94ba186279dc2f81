"""The one interface every stack backend implements (local processes, Docker containers).

The command bridge, the fault injectors and the runner only talk to a `Stack`, so a
scenario gives the same verdict whichever backend runs it. Container semantics are
Docker's: a service has at most one container, created with a fixed `ServiceConfig`;
`restart` keeps that config; a process that dies by itself is restarted per the
`restart:` policy, one stopped or killed through the engine stays down.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.compose import ComposeFile, ServiceConfig, StandIn, parse_dotenv
from harness.redact import SECRET_NAME


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"
    EXITED = "exited"


@dataclass
class ContainerState:
    """What `docker inspect` tells about one service's container."""

    service: str
    name: str
    config: ServiceConfig  # the configuration it was created with
    status: Status = Status.CREATED
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    pid: int | None = None
    created_at: float = 0.0  # wall clock, for `docker ps` "Up 3 seconds"
    started_at: float | None = None
    finished_at: float | None = None
    image_id: str = ""
    engine_id: str = ""  # the engine's container ID (docker backend); "": the bridge derives one

    @property
    def status_text(self) -> str:
        if self.status in (Status.EXITED, Status.RESTARTING):
            return f"{self.status.value}, exit {self.exit_code}, {self.restart_count} restarts"
        return self.status.value


@dataclass(frozen=True)
class ResourceUsage:
    """One `docker stats --no-stream` sample."""

    memory_bytes: int
    memory_limit_bytes: int | None
    cpu_percent: float
    pids: int


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


@dataclass
class StackInfo:
    """Facts about a running stack that reports show (which backend, addresses, limits)."""

    backend: str
    project: str
    workdir: Path  # the operator's working directory (.env, .env.example live here)
    notes: list[str] = field(default_factory=list)


class Stack(abc.ABC):
    """A TestGen stack owned by one gameday. Use as a context manager: nothing outlives it."""

    backend_name: str = "abstract"

    def __init__(self, compose: ComposeFile) -> None:
        self.compose = compose
        # Set by the command bridge: tools inside `docker exec` reach the stack through it.
        self.bridge_socket: str | None = None
        self.container_bin: str | None = None
        # (wall time, volume names) for every `down -v`: what data a step destroyed, and when.
        self.volume_removals: list[tuple[float, list[str]]] = []

    def attach_bridge(self, socket_path: str, container_bin: str) -> None:
        """The command bridge now serving this stack: tools run by `docker exec` inside a
        service's context reach the stack through it (service names resolve)."""
        self.bridge_socket, self.container_bin = socket_path, container_bin

    # -- lifecycle -------------------------------------------------------------------
    @abc.abstractmethod
    def up(self, timeout: float = 60.0) -> None:
        """Create and start the default services; return when every healthcheck passes."""

    @abc.abstractmethod
    def close(self) -> None:
        """Remove every container, process, network, volume and temp dir of the stack."""

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine's view -----------------------------------------------------------
    # -- shared by every backend -----------------------------------------------------
    # Each backend sets `dir` (the stack's temp dir), calls `_open_operator_dir`, and keeps
    # `_notes`; these members then work the same on all of them.
    dir: Path
    workdir: Path
    shell_env: dict[str, str]
    _notes: list[str]
    health_poll_s: float = 0.05  # between two healthcheck runs in `wait_healthy`

    def _open_operator_dir(
        self, shell_env: Mapping[str, str] | None, env_example: Path | None
    ) -> None:
        """The operator's checkout: `.env.example` and a working `.env` (copied from it), and
        the shell `docker-compose` is run from."""
        self.workdir = self.dir / "operator"
        self.workdir.mkdir()
        self.shell_env = dict(shell_env or {})
        # The deployment's .env.example, then what the chaos layer's stand-ins need.
        examples = [env_example] if env_example else self.compose.env_examples()
        examples = [p for p in examples if p.exists()]
        text = "".join(
            p.read_text() + ("" if p.read_text().endswith("\n") else "\n") for p in examples
        )
        if examples:
            (self.workdir / ".env.example").write_text(text)
            (self.workdir / ".env").write_text(text)

    def dotenv(self) -> dict[str, str]:
        path = self.workdir / ".env"
        return parse_dotenv(path.read_text()) if path.exists() else {}

    @property
    def info(self) -> StackInfo:
        # What the chaos layer sets that the deployment does not (a scenario's memory limit).
        layer = self.compose.layer_notes(self.resolve_config())
        # Every stand-in with its reason, so each result (results.json, report) lists them.
        layer += [f"stand-in: {s.name}: {s.reason}" for s in self.stand_ins()]
        notes = list(self._notes) + [n for n in layer if n not in self._notes]
        return StackInfo(self.backend_name, self.compose.project, self.workdir, notes)

    def secrets(self) -> list[str]:
        """Secret values of the stack's resolved services: secret-named variables, Redis's
        `--requirepass`, and passwords inside URLs (what a redactor must mask)."""
        out = []
        for cfg in self.resolve_config().values():
            out += [v for k, v in cfg.environment if SECRET_NAME.search(k)]
            out += [urlsplit(v).password or "" for _, v in cfg.environment if "://" in v]
            out.append(cfg.requirepass or "")
        return [s for s in dict.fromkeys(out) if s]

    def stand_ins(self) -> list[StandIn]:
        """What the chaos layer supplies in place of the deployment, each with its reason."""
        return self.compose.stand_ins()

    def image_lacks(self, service: str, programs: list[str]) -> set[str]:
        """Which of `programs` the deployment's image for `service` does not carry (read from
        its Dockerfile stage or a well-known image; nothing when it cannot tell, or when the
        service is the chaos layer's own). A stand-in keeps the deployment's image's tools:
        `docker exec testgen-copilot pg_isready` fails as on the deployment."""
        if self.compose.deployment_dir is None or not self.compose.deployment_spec(service):
            return set()
        cache = self.__dict__.setdefault("_image_tools", {})
        if service not in cache:
            from harness.deployment.image import image_tools  # the deployment's files

            cache[service] = image_tools(self.compose.deployment_dir, service)
        tools = cache[service]
        return set() if tools is None else {p for p in programs if p not in tools}

    def host_path(self, production_path: str) -> Path | None:
        """Where a production host path the runbook reads (`/var/log/testgen/...`) lives."""
        for prod, rel in self.compose.host_paths.items():
            if production_path == prod or production_path.startswith(prod.rstrip("/") + "/"):
                return self.dir / rel / production_path[len(prod) :].lstrip("/")
        return None

    def resolve_config(
        self, env_overrides: Mapping[str, str] | None = None
    ) -> dict[str, ServiceConfig]:
        """Resolve the compose file as `docker-compose` would now: operator shell + `.env`."""
        shell = dict(env_overrides) if env_overrides is not None else self.shell_env
        configs, _ = self.compose.resolve(shell, self.dotenv())
        return configs

    def wait_healthy(self, service: str, timeout: float) -> bool:
        """True once the service's healthcheck passes; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if self._healthy(service):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.health_poll_s)

    @abc.abstractmethod
    def _healthy(self, service: str) -> bool:
        """One run of the service's healthcheck (or the backend's readiness test)."""

    @abc.abstractmethod
    def containers(self) -> dict[str, ContainerState]:
        """Existing containers by service name (removed ones are absent)."""

    @abc.abstractmethod
    def create(self, service: str, config: ServiceConfig) -> None:
        """Create (replacing any existing container) and start a service's container."""

    @abc.abstractmethod
    def start(self, service: str) -> None: ...

    @abc.abstractmethod
    def stop(self, service: str, timeout: float = 10.0) -> None:
        """Stop through the engine: the restart policy does not bring it back."""

    @abc.abstractmethod
    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        """`docker kill`: through the engine, so it stays down."""

    @abc.abstractmethod
    def remove(self, service: str) -> None: ...

    @abc.abstractmethod
    def remove_volumes(self) -> list[str]:
        """Delete the project's named volumes (`down -v`); returns their names."""

    @abc.abstractmethod
    def crash(self, service: str, sig: int = signal.SIGKILL) -> int:
        """Signal the service's main process from outside the engine (as the kernel would):
        the engine sees it die by itself and applies the restart policy. Returns the pid."""

    def restart(self, service: str, timeout: float = 10.0) -> None:
        """`docker restart`: stop then start the same container, same configuration."""
        self.stop(service, timeout)
        self.start(service)

    @abc.abstractmethod
    def logs(self, service: str) -> list[tuple[float, str]]:
        """The container's output as (wall time, line), across its restarts."""

    @abc.abstractmethod
    def stats(self, service: str) -> ResourceUsage: ...

    @abc.abstractmethod
    def exec(self, service: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        """Run argv in the service's context (its environment, its view of the network)."""

    @abc.abstractmethod
    def endpoint(self, service: str, container_port: int) -> tuple[str, int]:
        """The host-side (loopback) address of a service's port."""

    @abc.abstractmethod
    def published(self, host_port: int) -> tuple[str, int] | None:
        """Where production's `localhost:<host_port>` lands in this stack, if anywhere."""

    @abc.abstractmethod
    def image_env(self, image: str) -> dict[str, str] | None:
        """The environment baked into an image (`docker run --rm IMAGE env`), if it exists."""

    @abc.abstractmethod
    def images(self) -> list[tuple[str, str, str]]:
        """(repository, tag, id) of the images the stack's services use."""

    def host_process(self, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Start a process on the machine where the stack's ports are published (a fault's
        port squatter), stdout a pipe, in a session of its own. Here by default; a remote
        engine's backend starts it on the engine's host."""
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(env),
            start_new_session=True,
        )

    def port_holders(self, port: int) -> list[int]:
        """Pids listening on a TCP port of the machine that publishes the stack's ports
        (`fuser PORT/tcp`): this one by default."""
        import psutil

        return sorted(
            {
                c.pid
                for c in psutil.net_connections("tcp")
                if c.pid and c.laddr and c.laddr.port == port and c.status == "LISTEN"
            }
        )

    def signal_host_pid(self, pid: int, sig: int) -> None:
        """Signal a pid `port_holders` named (`fuser -k`), on that same machine."""
        import os

        os.kill(pid, sig)

    @abc.abstractmethod
    def owns_pid(self, pid: int) -> bool:
        """True if pid belongs to a process this stack started (blast-radius check)."""


def should_restart(policy: str, exit_code: int) -> bool:
    """Docker's restart policy for a container that exited by itself (crash, OOM kill)."""
    name, _, _ = policy.partition(":")
    if name in ("always", "unless-stopped"):
        return True
    return name == "on-failure" and exit_code != 0


def image_id(image: str) -> str:
    """A stable short id for an image name, where no engine assigns one."""
    return hashlib.sha256(image.encode()).hexdigest()[:12]
