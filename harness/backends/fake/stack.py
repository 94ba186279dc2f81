"""FakeStack: the compose file's services as in-memory containers with real loopback servers.

    compose file ──resolve──▶ ServiceConfig ──▶ _Container (state machine) ──▶ Service
                                                   ▲  created/running/exited/restarting
                                supervisor thread ─┘  restart policy for exits "by itself"

Nothing is a process: pids are numbers above the kernel's PID_MAX_LIMIT (so none can be a
real process), memory is a figure, and `exec` answers `pg_isready`, `redis-cli` and
`env` from the stack's state. Addresses are real: each (service, container port) has a
free loopback port for the life of the stack, and `service:port` in a container's
configuration resolves to it, so the API, the fault proxy and the runbook's curl meet on
real sockets.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness.backends.base import (
    ContainerState,
    ExecResult,
    ResourceUsage,
    Stack,
    Status,
    image_id,
    should_restart,
)
from harness.backends.fake import api, proxy, servers
from harness.compose import ComposeFile, ServiceConfig
from harness.errors import StackError
from harness.services.testgen.config import ConfigError
from harness.tls import shared_context

# Linux's PID_MAX_LIMIT is 2**22: no real process ever has a pid at or above this.
FAKE_PID_BASE = 2**22 + 1000
KIND_PORTS = {"postgres": 5432, "redis": 6379, "toxiproxy": 8474}
_PORT_TOKEN = re.compile(r"\{port:(\d+)\}")
_RESTART_BACKOFF_START, _RESTART_BACKOFF_MAX = 0.1, 10.0
EX_CONFIG = 78  # the reference service's exit status for a configuration error
# What `docker stats` shows per kind of service: plausible figures, never measured.
MEMORY = {"api": 48, "llm": 40, "postgres": 30, "redis": 4, "toxiproxy": 20}
MiB = 2**20
STACK_MARKER = "GAMEDAY_STACK_ID"  # what a fault's own helper process carries (see port_conflict)


class NotSupportedOnFake(StackError):
    """A fault or command that needs something the fake does not model (real memory,
    real processes holding ports)."""


@dataclass
class _Container:
    state: ContainerState
    kind: str
    logs: list[tuple[float, str]] = field(default_factory=list)
    server: Any = None  # the running container's servers.Service, None when not running
    stopping: bool = False  # stopped/killed through the engine: no restart
    restart_due: float | None = None
    backoff: float = _RESTART_BACKOFF_START


class FakeStack(Stack):
    """The TestGen stack in memory, for testing the runner and the verdict without processes.

    with FakeStack(ComposeFile("docker-compose.chaos.yml")) as stack:
        stack.up()
        host, port = stack.published(8000)   # a real HTTP server playing the TestGen API
    """

    backend_name = "fake"
    health_poll_s = 0.01
    _pids = itertools.count(FAKE_PID_BASE)

    def __init__(
        self,
        compose: ComposeFile,
        shell_env: Mapping[str, str] | None = None,
        env_example: Path | None = None,
    ) -> None:
        super().__init__(compose)
        self.id = f"fake-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
        # A temp dir only for what a runbook reads as files: the operator's .env and the
        # service log directory (x-host-paths); everything else is in memory.
        self.dir = Path(tempfile.mkdtemp(prefix=f"gameday-{self.id}-"))
        self._open_operator_dir(shell_env, env_example)
        self._lock = threading.RLock()
        self._containers: dict[str, _Container] = {}
        self._closed = False
        self._notes: list[str] = []
        # Named volumes by compose key: PostgreSQL's rows live here, across containers.
        self.volumes: dict[str, dict[str, Any]] = {}
        self._ports = self._allocate_ports()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                            name=f"fake-supervisor-{self.id}")
        self._supervisor.start()

    # -- addresses ---------------------------------------------------------------------
    def _kind(self, service: str) -> str:
        spec = self.compose.spec(service)
        kind = str((spec.get("x-local") or {}).get("kind", ""))
        if kind:
            return kind
        text = json.dumps(spec.get("command") or spec.get("x-local") or "")
        return "api" if "services.testgen" in text else "llm" if "mockllm" in text else "other"

    def _allocate_ports(self) -> dict[tuple[str, int], int]:
        wanted: set[tuple[str, int]] = set()
        for name, spec in self.compose.services().items():
            kind = self._kind(name)
            if kind in KIND_PORTS:
                wanted.add((name, KIND_PORTS[kind]))
            for entry in spec.get("ports", []) or []:
                wanted.add((name, int(str(entry).rsplit(":", 1)[-1])))
            wanted.update((name, int(p)) for p in _PORT_TOKEN.findall(
                json.dumps(spec.get("x-local") or {})))
            if kind == "toxiproxy":
                wanted.update((name, link.listen_port) for link in self.compose.proxies)
        for link in self.compose.proxies:
            wanted.add((link.upstream_service, link.upstream_port))
        return {key: servers.free_port() for key in sorted(wanted)}

    def endpoint(self, service: str, container_port: int) -> tuple[str, int]:
        try:
            return "127.0.0.1", self._ports[(service, container_port)]
        except KeyError:
            raise StackError(f"service {service!r} exposes no port {container_port}") from None

    def published(self, host_port: int) -> tuple[str, int] | None:
        for name in self.compose.service_names:
            for entry in self.compose.spec(name).get("ports", []) or []:
                host, _, container = str(entry).rpartition(":")
                if int(host or container) == host_port:
                    return self.endpoint(name, int(container))
        for (name, inside), port in self._ports.items():  # well-known service ports
            if inside == host_port and self._kind(name) in ("postgres", "redis"):
                return "127.0.0.1", port
        return None

    def _resolve(self, host: str, port: int) -> tuple[str, int]:
        """Service DNS inside the stack: `postgres:5432` → its loopback port; anything else
        (a name beyond the stack) → the discard port, where nothing listens."""
        if host in self.compose.service_names and (host, port) in self._ports:
            return "127.0.0.1", self._ports[(host, port)]
        return "127.0.0.1", 9

    # -- configuration -------------------------------------------------------------------
    # -- lifecycle -------------------------------------------------------------------------
    def up(self, timeout: float = 60.0) -> None:
        configs = self.resolve_config()
        order = self.compose.startup_order()
        for name in order:
            self.create(name, configs[name])
        deadline = time.monotonic() + timeout
        for name in order:
            while not self.wait_healthy(name, 0.1):
                state = self.containers()[name]
                looping = state.restart_count >= 3 or (
                    state.status == Status.EXITED and state.config.restart == "no")
                if looping or time.monotonic() >= deadline:
                    tail = "\n".join(line for _, line in self.logs(name)[-5:])
                    why = f"exits ({state.status_text})" if looping else \
                        f"not healthy in {timeout:.0f}s"
                    raise StackError(f"service {name} {why}:\n{tail}")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = [c for c in self._containers.values() if c.server is not None]
            for cont in self._containers.values():
                cont.stopping, cont.restart_due = True, None
        for cont in running:
            self._halt(cont)
        self._supervisor.join(timeout=2)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- containers ----------------------------------------------------------------------
    def containers(self) -> dict[str, ContainerState]:
        with self._lock:
            return {n: dataclasses.replace(c.state) for n, c in self._containers.items()}

    def _container(self, service: str) -> _Container:
        try:
            return self._containers[service]
        except KeyError:
            raise StackError(f"no such container for service {service!r}") from None

    def create(self, service: str, config: ServiceConfig) -> None:
        with self._lock:
            if service in self._containers:
                self.remove(service)
            for volume in config.volumes:  # Compose creates a named volume on first use
                key = volume.split(":", 1)[0]
                if key in self.compose.volume_names:
                    self.volumes.setdefault(key, {"jobs": {}, "tables": {"jobs"}})
            cont = _Container(
                state=ContainerState(service=service, name=config.container_name, config=config,
                                     created_at=time.time(), image_id=image_id(config.image)),
                kind=self._kind(service),
            )
            self._containers[service] = cont
            self._spawn(cont)

    def start(self, service: str) -> None:
        with self._lock:
            cont = self._container(service)
            if cont.state.status == Status.RUNNING:
                return
            cont.stopping, cont.restart_due = False, None
            self._spawn(cont)

    def stop(self, service: str, timeout: float = 10.0) -> None:
        self._through_engine(self._container(service), 0)

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        self._through_engine(self._container(service), 128 + int(sig))

    def _through_engine(self, cont: _Container, exit_code: int) -> None:
        """Stopped or killed through the engine: it stays down, whatever its policy."""
        with self._lock:
            cont.stopping, cont.restart_due = True, None
            if cont.state.status == Status.RESTARTING:
                cont.state.status = Status.EXITED
            if cont.state.status != Status.RUNNING:
                return
            self._exit(cont, exit_code)

    def crash(self, service: str, sig: int = signal.SIGKILL) -> int:
        with self._lock:
            cont = self._container(service)
            pid = cont.state.pid
            if cont.state.status != Status.RUNNING or pid is None:
                raise StackError(f"{service} is not running: nothing to crash")
            self._exited_by_itself(cont, 128 + int(sig))
            return pid

    def remove(self, service: str) -> None:
        with self._lock:
            cont = self._containers.get(service)
            if cont is None:
                return
            self._through_engine(cont, 0)
            del self._containers[service]

    def remove_volumes(self) -> list[str]:
        removed = [f"{self.compose.project}_{k}" for k in list(self.volumes)
                   if k in self.compose.volume_names and self.volumes.pop(k, None)
                   is not None]
        if removed:
            self.volume_removals.append((time.time(), removed))
        return removed

    def remove_volume(self, name: str) -> str | None:
        """`docker volume rm` of one named volume (by compose key): the engine name, or None."""
        if name not in self.compose.volume_names or name not in self.volumes:
            return None
        del self.volumes[name]
        removed = f"{self.compose.project}_{name}"
        self.volume_removals.append((time.time(), [removed]))
        return removed

    def jobs(self) -> dict[str, dict[str, Any]]:
        """PostgreSQL's jobs table: in the named volume the postgres container mounts."""
        with self._lock:
            cont = self._containers.get("postgres")
            jobs: dict[str, dict[str, Any]] = self._volume_of(cont).setdefault("jobs", {})
            return jobs

    def _volume_of(self, cont: _Container | None) -> dict[str, Any]:
        """The data of the named volume a container mounts ({} when it mounts none)."""
        for volume in cont.state.config.volumes if cont else ():
            data = self.volumes.get(volume.split(":", 1)[0])
            if data is not None:
                return data
        return {}

    # -- the state machine ----------------------------------------------------------------
    def _log(self, cont: _Container, level: str, message: str) -> None:
        now = time.time()
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))} {level} {message}"
        cont.logs.append((now, line))
        log_file = cont.state.config.env.get("TESTGEN_LOG_FILE", "")
        if cont.kind == "api" and log_file and (path := self._mounted(cont, log_file)):
            with self._lock:  # a late request's line must not recreate a closed stack's dir
                if self._closed:
                    return
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def _mounted(self, cont: _Container, container_path: str) -> Path | None:
        """Where a path inside the container lands on the host, through a bind mount."""
        for volume in cont.state.config.volumes:
            source, _, target = volume.partition(":")
            target = target.split(":", 1)[0]
            if source.startswith((".", "/")) and (
                container_path == target or container_path.startswith(target + "/")
            ):
                host = (self.dir / source).resolve() if source.startswith(".") else Path(source)
                return host / container_path[len(target):].lstrip("/")
        return None

    @staticmethod
    def _env(cont: _Container) -> dict[str, str]:
        """The container's environment, as compose resolved it when it was created."""
        return dict(cont.state.config.env)

    def _make_server(self, cont: _Container) -> Any:
        service = cont.state.service
        log: Callable[[str, str], None] = lambda level, msg: self._log(cont, level, msg)  # noqa: E731
        if cont.kind == "postgres":
            return servers.FakePostgres(self._ports[(service, 5432)], log,
                                        lambda: self._volume_of(cont))
        if cont.kind == "redis":
            return servers.FakeRedis(self._ports[(service, 6379)], log)
        if cont.kind == "toxiproxy":
            links = [(link.name, self._ports[(service, link.listen_port)],
                      self.endpoint(link.upstream_service, link.upstream_port))
                     for link in self.compose.proxies]
            return proxy.FaultProxy(self._ports[(service, 8474)], links, log)
        own = sorted(p for (s, p) in self._ports if s == service)
        if cont.kind == "llm" and own:
            return servers.MockLlm(self._ports[(service, own[0])], log)
        if cont.kind == "api":
            env = self._env(cont)
            port = int(env.get("TESTGEN_PORT") or 8000)
            return api.TestGenApi(self._ports[(service, port)], log, env, self._resolve,
                                      self.jobs, lambda held: self._memory(cont, held))
        raise NotSupportedOnFake(f"service {service}: the fake backend has no model for it")

    def _spawn(self, cont: _Container) -> None:
        """Start the container's server; a configuration it refuses is an exit by itself."""
        st = cont.state
        st.pid, st.status, st.started_at, st.exit_code = next(self._pids), Status.RUNNING, \
            time.time(), None
        st.oom_killed = False
        try:
            server = self._make_server(cont)
            server.start()
        except ConfigError as exc:
            self._log(cont, "ERROR", f"testgen: refusing to start: {exc}")
            self._exited_by_itself(cont, EX_CONFIG)
            return
        except OSError as exc:  # its port taken: as a process that cannot bind
            self._log(cont, "ERROR", f"{st.service}: cannot listen: {exc}")
            self._exited_by_itself(cont, 98)
            return
        cont.server = server
        self._log(cont, "INFO", f"{st.service} starting pid={st.pid}")

    def _memory(self, cont: _Container, held: int) -> None:
        """The kernel's side of the memory-assault hook: over mem_limit is an OOM kill."""
        with self._lock:
            limit = cont.state.config.mem_limit_bytes
            if limit and cont.server is not None and MEMORY["api"] * MiB + held > limit:
                self._log(cont, "ERROR", "Killed (out of memory)")
                self._exited_by_itself(cont, 137)
                cont.state.oom_killed = True

    def _exit(self, cont: _Container, exit_code: int) -> None:
        server, cont.server = cont.server, None
        if server is not None:
            server.stop()
        st = cont.state
        st.status, st.exit_code, st.finished_at, st.pid = Status.EXITED, exit_code, \
            time.time(), None

    def _halt(self, cont: _Container) -> None:
        server, cont.server = cont.server, None
        if server is not None:
            server.stop()

    def _exited_by_itself(self, cont: _Container, exit_code: int) -> None:
        ran = time.time() - (cont.state.started_at or time.time())
        self._exit(cont, exit_code)
        if should_restart(cont.state.config.restart, exit_code) and not cont.stopping:
            if ran > 10:
                cont.backoff = _RESTART_BACKOFF_START
            cont.state.status = Status.RESTARTING
            cont.restart_due = time.monotonic() + cont.backoff
            cont.backoff = min(cont.backoff * 2, _RESTART_BACKOFF_MAX)

    def _supervise(self) -> None:
        """Docker's restart policies, for containers that exited by themselves."""
        while not self._closed:
            with self._lock:
                now = time.monotonic()
                for cont in list(self._containers.values()):
                    if (cont.state.status == Status.RESTARTING and not cont.stopping
                            and cont.restart_due is not None and now >= cont.restart_due):
                        cont.restart_due = None
                        cont.state.restart_count += 1
                        self._spawn(cont)
            time.sleep(0.02)

    # -- observation ----------------------------------------------------------------------
    def logs(self, service: str) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._container(service).logs)

    def stats(self, service: str) -> ResourceUsage:
        with self._lock:
            cont = self._container(service)
            limit = cont.state.config.mem_limit_bytes
            if cont.state.status != Status.RUNNING:
                return ResourceUsage(0, limit, 0.0, 0)
            held = getattr(cont.server, "held_bytes", 0)
            return ResourceUsage(MEMORY.get(cont.kind, 16) * MiB + held, limit, 0.5, 1)

    def exec(self, service: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        with self._lock:
            cont = self._container(service)
            if cont.state.status != Status.RUNNING:
                msg = f"Error response from daemon: container {cont.state.name} is not running\n"
                return ExecResult(1, b"", msg.encode())
            env = self._env(cont)
        tool = os.path.basename(argv[0]) if argv else ""
        if tool == "pg_isready":
            return self._pg_isready(service, argv[1:])
        if tool == "redis-cli":
            return self._redis_cli(service, argv[1:])
        if tool in ("env", "printenv") and len(argv) <= 2:
            if len(argv) == 2:
                value = env.get(argv[1])
                return ExecResult(0 if value is not None else 1,
                                  f"{value}\n".encode() if value is not None else b"", b"")
            return ExecResult(0, "".join(f"{k}={v}\n" for k, v in env.items()).encode(), b"")
        return self._host_exec(cont, env, argv, timeout)

    def _target(self, service: str, args: list[str], default_port: int) -> tuple[str, int,
                                                                                 list[str]]:
        host, port, rest, i = "localhost", default_port, [], 0
        while i < len(args):
            if args[i] in ("-h", "--host", "-p", "--port") and i + 1 < len(args):
                if args[i] in ("-h", "--host"):
                    host = args[i + 1]
                else:
                    port = int(args[i + 1])
                i += 2
                continue
            rest.append(args[i])
            i += 1
        return host, port, rest

    def _inside(self, service: str, host: str, port: int) -> tuple[str, int]:
        """host:port as a tool inside `service` reaches it (localhost is the container)."""
        if host in ("localhost", "127.0.0.1"):
            return "127.0.0.1", self._ports.get((service, port), 9)
        return self._resolve(host, port)

    def _pg_isready(self, service: str, args: list[str]) -> ExecResult:
        host, port, _ = self._target(service, args, 5432)
        shown = f"{host}:{port}" if host != "localhost" else f"/var/run/postgresql:{port}"
        try:
            servers.pg_ping(self._inside(service, host, port), timeout=1.0)
        except OSError:
            return ExecResult(2, f"{shown} - no response\n".encode(), b"")
        return ExecResult(0, f"{shown} - accepting connections\n".encode(), b"")

    def _redis_cli(self, service: str, args: list[str]) -> ExecResult:
        host, port, rest = self._target(service, args, 6379)
        try:
            reply = servers.resp_call(self._inside(service, host, port), *(rest or ["PING"]),
                                      timeout=1.0)
        except ConnectionRefusedError:
            msg = f"Could not connect to Redis at {host}:{port}: Connection refused\n"
            return ExecResult(1, msg.encode(), b"")
        except OSError as exc:
            return ExecResult(1, f"(error) {exc}\n".encode(), b"")
        return ExecResult(0, f"{reply}\n".encode(), b"")

    def _host_exec(self, cont: _Container, env: dict[str, str], argv: list[str],
                   timeout: float) -> ExecResult:
        """Any other command runs on the host in the container's environment (as the local
        backend's exec does), with `service:port` names resolved to the stack's addresses."""
        rewritten = {k: self._rewrite(v) for k, v in env.items()}
        rewritten["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                             os.environ.get("PATH", "/usr/bin:/bin")])
        if self.bridge_socket and self.container_bin:  # tools resolve names via the bridge
            rewritten.update(PATH=self.container_bin + os.pathsep + rewritten["PATH"],
                             GAMEDAY_BRIDGE=self.bridge_socket,
                             GAMEDAY_CONTEXT=cont.state.service)
        try:
            done = subprocess.run(argv, env=rewritten, cwd=self.dir, capture_output=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            msg = (f"OCI runtime exec failed: exec failed: unable to start container process: "
                   f'exec: "{argv[0]}": executable file not found in $PATH: unknown\n')
            return ExecResult(127, b"", msg.encode())
        except subprocess.TimeoutExpired as exc:
            return ExecResult(124, exc.stdout or b"", (exc.stderr or b"") + b"\ntimed out\n")
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def _rewrite(self, value: str) -> str:
        for (svc, port), real in self._ports.items():
            value = re.sub(rf"(?<![\w.-]){re.escape(svc)}:{port}\b", f"127.0.0.1:{real}", value)
        return value

    def _healthy(self, service: str) -> bool:
        with self._lock:
            cont = self._containers.get(service)
            if cont is None or cont.state.status != Status.RUNNING or cont.server is None:
                return False
            kind, server = cont.kind, cont.server
        if kind == "api":  # its healthcheck: GET /health
            try:
                url = f"http://127.0.0.1:{server.port}/health"
                return httpx.get(url, timeout=2, verify=shared_context()).status_code < 300
            except httpx.HTTPError:
                return False
        return bool(server.healthy())

    def image_env(self, image: str) -> dict[str, str] | None:
        if not any(c.image == image for c in self.resolve_config().values()):
            return None
        return {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": "/root"}

    def images(self) -> list[tuple[str, str, str]]:
        seen = {}
        for cfg in self.resolve_config().values():
            repo, sep, tag = cfg.image.rpartition(":")
            if not sep or "/" in tag:
                repo, tag = cfg.image, "latest"
            seen[(repo, tag)] = image_id(cfg.image)
        return [(r, t, i) for (r, t), i in seen.items()]

    def owns_pid(self, pid: int) -> bool:
        """The fake pids of this stack's running containers (none is a real process), or a
        real process its faults started (e.g. a port squatter), which carries its marker."""
        with self._lock:
            if any(c.state.pid == pid for c in self._containers.values()):
                return True
        try:
            return bool(psutil.Process(pid).environ().get(STACK_MARKER) == self.id)
        except (psutil.Error, OSError):
            return False


