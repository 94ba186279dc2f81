"""LocalStack: every service of the compose file as a supervised process on loopback.

    compose file ──resolve──▶ ServiceConfig ──▶ _Container ──spawn──▶ process group
                                                    ▲                    │ exits by itself
                                supervisor thread ──┴── restart policy ◀─┘ (crash, OOM kill)

Production addresses are emulated, not faked: each (service, container port) gets a free
loopback port for the life of the stack, and `service:port` in a service's environment is
rewritten to it (the stack's service DNS). Bind mounts and named volumes are directories
in the stack's temp dir; `mem_limit` is a real memory cgroup where one is writable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
from harness.backends.local import reaper, servers
from harness.backends.local.cgroup import MemoryCgroup
from harness.backends.local.ports import free_port, port_open
from harness.compose import ComposeFile, ServiceConfig
from harness.errors import BlastRadiusError, StackError
from harness.tls import shared_context

STACK_MARKER = "GAMEDAY_STACK_ID"  # set in every process a local stack starts
KIND_PORTS = {"postgres": 5432, "redis": 6379, "toxiproxy": 8474}
STOP_SIGNALS = {"postgres": signal.SIGINT}  # as the official image's STOPSIGNAL
# PostgreSQL's immediate shutdown still removes its shared memory (a SysV segment and
# /dev/shm files) which a SIGKILL would leave behind; it takes milliseconds.
CLOSE_SIGNALS = {"postgres": signal.SIGQUIT}
_PORT_TOKEN = re.compile(r"\{port:(\d+)\}")
_RESTART_BACKOFF_START, _RESTART_BACKOFF_MAX = 0.1, 10.0
# The supervisor wakes when a service exits (pidfd) or a restart is due, and at least this
# often (a process another thread started since its last round); it polled at 50 Hz before.
SUPERVISE_MAX_WAIT_S = 0.1


@dataclass
class _Container:
    state: ContainerState
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    stopping: bool = False  # stopped/killed through the engine: no restart
    restart_due: float | None = None
    backoff: float = _RESTART_BACKOFF_START
    cgroup: MemoryCgroup | None = None
    oom_base: int = 0
    readers: list[threading.Thread] = field(default_factory=list)


class LocalStack(Stack):
    """The TestGen stack as local processes.

    with LocalStack(ComposeFile("docker-compose.chaos.yml")) as stack:
        stack.up()
        host, port = stack.published(8000)   # production's localhost:8000
    """

    backend_name = "local"
    health_poll_s = 0.01

    def __init__(
        self,
        compose: ComposeFile,
        shell_env: Mapping[str, str] | None = None,
        env_example: Path | None = None,
        keep_dir: bool = False,
    ) -> None:
        super().__init__(compose)
        self.id = f"{os.getpid()}-{int(time.time() * 1000) % 10**8}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"gameday-{self.id}-", dir=stack_root()))
        os.chmod(self.dir, 0o711)  # PostgreSQL's unprivileged user must traverse it
        self._keep_dir = keep_dir
        self._lock = threading.RLock()
        self._containers: dict[str, _Container] = {}
        self._closed = False
        self._notes: list[str] = []
        self._open_operator_dir(shell_env, env_example)
        self._ports = self._allocate_ports()
        # Outside the stack dir, so a half-removed dir never hides what is left to kill.
        self._pidfile = Path(tempfile.gettempdir()) / f".gameday-{self.id}.pids"
        # The reaper tears the stack down if this process dies without closing it.
        self._reaper = subprocess.Popen(
            [
                # As a script, isolated and without site: it needs only the standard library,
                # and `-m` would import the package (httpx, psutil): 0.15 s -> 0.03 s of CPU.
                sys.executable,
                "-I",
                "-S",
                reaper.__file__,
                str(os.getpid()),
                self.id,
                str(self.dir),
                str(self._pidfile),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._pidfds: dict[int, int] = {}  # the supervisor's, for the processes it watches
        self._supervisor = threading.Thread(target=self._supervise, daemon=True, name="supervisor")
        self._supervisor.start()

    # -- addresses ---------------------------------------------------------------------
    def _kind(self, service: str) -> str:
        local = self.compose.spec(service).get("x-local") or {}
        return str(local.get("kind", "process"))

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

    # -- configuration ---------------------------------------------------------------
    # -- lifecycle ---------------------------------------------------------------------
    def up(self, timeout: float = 60.0) -> None:
        configs = self.resolve_config()
        order = self.compose.startup_order()
        # Start everything at once (services wait for their dependencies lazily), so
        # PostgreSQL's volume copy overlaps the Python services' imports.
        with ThreadPoolExecutor(max_workers=len(order)) as pool:
            for future in [pool.submit(self.create, name, configs[name]) for name in order]:
                future.result()
        deadline = time.monotonic() + timeout
        for name in order:
            while not self.wait_healthy(name, min(0.5, max(0.1, deadline - time.monotonic()))):
                state = self.containers()[name]
                # A crash loop will not heal by waiting: fail now, with the service's words.
                looping = state.restart_count >= 3 or (
                    state.status == Status.EXITED and state.config.restart == "no"
                )
                if looping or time.monotonic() >= deadline:
                    tail = "\n".join(line for _, line in self.logs(name)[-5:])
                    why = (
                        f"exits ({state.status_text})"
                        if looping
                        else f"not healthy in {timeout:.0f}s"
                    )
                    raise StackError(f"service {name} {why}:\n{tail}")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            names = list(self._containers)
            # The stack's data is deleted right after: a graceful stop buys nothing, so every
            # service is ended at once instead of one after another (0.7 s -> 0.07 s).
            for cont in self._containers.values():
                cont.stopping = True
                cont.restart_due = None
                if cont.proc is not None and cont.proc.poll() is None:
                    _killpg(
                        cont.proc.pid,
                        CLOSE_SIGNALS.get(self._kind(cont.state.service), signal.SIGKILL),
                    )
        for name in reversed(names):
            cont = self._containers[name]
            try:
                self._reap(cont, timeout=3.0)
            except Exception:  # noqa: BLE001 - teardown must go on whatever one service does
                pass
            if cont.cgroup:
                cont.cgroup.remove()
        self._kill_marked_leftovers()
        if not self._keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._reaper.stdin:  # tell the reaper we are done (it reaps anything left anyway)
            try:
                self._reaper.stdin.write(b"closed\n")
                self._reaper.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._reaper.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._reaper.kill()
        self._pidfile.unlink(missing_ok=True)

    def _kill_marked_leftovers(self) -> None:
        """Anything still carrying this stack's marker (a grandchild) is ended too."""
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.environ().get(STACK_MARKER) == self.id:
                    proc.kill()
            except (psutil.Error, OSError):
                continue

    # -- containers ----------------------------------------------------------------------
    def containers(self) -> dict[str, ContainerState]:
        with self._lock:  # copies: a caller's "before" must not change under it
            return {n: dataclasses.replace(c.state) for n, c in self._containers.items()}

    def create(self, service: str, config: ServiceConfig) -> None:
        self._prepare_volume(service, config)  # outside the lock: other services start meanwhile
        with self._lock:
            if service in self._containers:
                self.remove(service)
            logs = self.dir / "containers"
            logs.mkdir(exist_ok=True)
            cont = _Container(
                state=ContainerState(
                    service=service,
                    name=config.container_name,
                    config=config,
                    created_at=time.time(),
                    image_id=image_id(config.image),
                ),
                log_path=logs / f"{config.container_name}.{int(time.time() * 1000)}.log",
            )
            if config.mem_limit_bytes:
                try:
                    cont.cgroup = MemoryCgroup.create(
                        f"{self.id}-{service}", config.mem_limit_bytes
                    )
                except OSError as exc:
                    note = f"{service}: mem_limit not enforced on this machine ({exc})"
                    if note not in self._notes:
                        self._notes.append(note)
            self._containers[service] = cont
            self._spawn(cont)

    def _postgres_data(self, service: str) -> Path:
        return next(iter(self._mounts(service).values()), self.dir / "volumes" / service)

    def _prepare_volume(self, service: str, config: ServiceConfig) -> None:
        """Fill PostgreSQL's data volume from the template (the slowest part of a start)."""
        if self._kind(service) == "postgres":
            user = config.env.get("POSTGRES_USER", "postgres")
            data = self._postgres_data(service)
            data.parent.mkdir(parents=True, exist_ok=True)
            servers.prepare_postgres_volume(data, user, config.env.get("POSTGRES_DB", user))

    def _container(self, service: str) -> _Container:
        try:
            return self._containers[service]
        except KeyError:
            raise StackError(f"no such container for service {service!r}") from None

    def start(self, service: str) -> None:
        with self._lock:
            cont = self._container(service)
            if cont.state.status == Status.RUNNING:
                return
            cont.stopping = False
            cont.restart_due = None
            self._spawn(cont)

    def stop(self, service: str, timeout: float = 10.0) -> None:
        cont = self._container(service)
        self._terminate(cont, timeout)

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        cont = self._container(service)
        with self._lock:
            cont.stopping = True
            cont.restart_due = None
            proc = cont.proc
        if proc and proc.poll() is None:
            _killpg(proc.pid, sig)
            if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                self._reap(cont, timeout=10.0)

    def crash(self, service: str, sig: int = signal.SIGKILL) -> int:
        cont = self._container(service)
        proc = cont.proc
        if not proc or proc.poll() is not None:
            raise StackError(f"{service} is not running: nothing to crash")
        if not self.owns_pid(proc.pid):
            raise BlastRadiusError(f"pid {proc.pid} is not owned by this stack")
        os.kill(proc.pid, sig)  # the main process only, as the kernel would
        return proc.pid

    def remove(self, service: str) -> None:
        with self._lock:
            cont = self._containers.get(service)
            if cont is None:
                return
            self._terminate(cont, timeout=10.0)
            if cont.cgroup:
                cont.cgroup.remove()
            del self._containers[service]

    def remove_volumes(self) -> list[str]:
        removed = []
        volumes = self.dir / "volumes"
        for name in self.compose.volume_names:
            path = volumes / str(name)
            if path.exists():
                shutil.rmtree(path)
                removed.append(f"{self.compose.project}_{name}")
        if removed:
            self.volume_removals.append((time.time(), removed))
        return removed

    def remove_volume(self, name: str) -> str | None:
        """`docker volume rm` of one named volume of the compose file (by its compose key);
        the engine name removed, or None when it did not exist."""
        path = self.dir / "volumes" / name
        if name not in self.compose.volume_names or not path.exists():
            return None
        shutil.rmtree(path)
        removed = f"{self.compose.project}_{name}"
        self.volume_removals.append((time.time(), [removed]))
        return removed

    # -- processes -------------------------------------------------------------------------
    def _argv_env(self, cont: _Container) -> tuple[list[str], dict[str, str], dict[str, object]]:
        cfg, service = cont.state.config, cont.state.service
        kind = self._kind(service)
        local = cfg.local
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.dir),
            "PYTHONUNBUFFERED": "1",
            STACK_MARKER: self.id,
        }
        env.update({k: self._rewrite(v, service) for k, v in cfg.environment})
        env.update({k: self._rewrite(str(v), service) for k, v in (local.get("env") or {}).items()})
        for target, host in self._mounts(service).items():
            if not host.exists():
                host.mkdir(parents=True, exist_ok=True)
            del target
        extra: dict[str, object] = {}
        if kind == "postgres":
            user = cfg.env.get("POSTGRES_USER", "postgres")
            database = cfg.env.get("POSTGRES_DB", user)
            data = self._postgres_data(service)
            servers.prepare_postgres_volume(data, user, database)  # a no-op once prepared
            sockets = self.dir / "run" / service
            sockets.mkdir(parents=True, exist_ok=True)
            owner = servers.run_as()
            if owner and (data.stat().st_uid, sockets.stat().st_uid) != (owner[0], owner[0]):
                for path in (data, sockets):
                    for root, dirs, files in os.walk(path):
                        for entry in [
                            root,
                            *(os.path.join(root, d) for d in dirs),
                            *(os.path.join(root, f) for f in files),
                        ]:
                            os.chown(entry, *owner)
            if owner:
                os.chmod(self.dir / "volumes", 0o711)
                os.chmod(self.dir / "run", 0o711)
                extra = {"user": owner[0], "group": owner[1]}
            port = self._ports[(service, 5432)]
            argv = [
                str(servers.postgres_bindir() / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={sockets}",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "max_connections=60",
            ]
        elif kind == "redis":
            data = self.dir / "volumes" / f"{service}-data"
            data.mkdir(parents=True, exist_ok=True)
            argv = [
                servers.redis_server_binary(),
                "--port",
                str(self._ports[(service, 6379)]),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(data),
            ]
        else:
            command = local.get("command") or list(cfg.command)
            if not command:
                raise StackError(
                    f"service {service} has no command to run locally (x-local.command)"
                )
            argv = [self._rewrite(str(c), service) for c in command]
        return argv, env, extra

    def _spawn(self, cont: _Container) -> None:
        argv, env, extra = self._argv_env(cont)
        if cont.cgroup:
            # Join the cgroup before exec, so every byte the service allocates is charged.
            argv = [
                "/bin/sh",
                "-c",
                'echo $$ > "$0" && exec "$@"',
                str(cont.cgroup.procs_file),
                *argv,
            ]
            cont.oom_base = cont.cgroup.oom_kills()
        cwd = self.dir
        proc = subprocess.Popen(  # type: ignore[call-overload]
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            **extra,
        )
        cont.proc = proc
        with open(self._pidfile, "a") as pids:
            pids.write(f"{proc.pid} {reaper.start_time(proc.pid)}\n")
        st = cont.state
        st.pid, st.status, st.started_at, st.exit_code = proc.pid, Status.RUNNING, time.time(), None
        st.oom_killed = False
        log = open(cont.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the readers
        lock = threading.Lock()
        remaining = [2]
        cont.readers = [
            threading.Thread(target=_pump, args=(stream, log, lock, remaining), daemon=True)
            for stream in (proc.stdout, proc.stderr)
        ]
        for t in cont.readers:
            t.start()
        if self._kind(cont.state.service) == "toxiproxy":
            threading.Thread(target=self._populate_proxies, args=(cont,), daemon=True).start()

    def _populate_proxies(self, cont: _Container) -> None:
        """Toxiproxy keeps no state across restarts: (re)create its links once it answers."""
        host, port = self.endpoint(cont.state.service, KIND_PORTS["toxiproxy"])
        body = [
            {
                "name": link.name,
                "enabled": True,
                "listen": f"127.0.0.1:{self._ports[(cont.state.service, link.listen_port)]}",
                "upstream": f"127.0.0.1:{self._ports[(link.upstream_service, link.upstream_port)]}",
            }
            for link in self.compose.proxies
        ]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and cont.proc and cont.proc.poll() is None:
            try:
                r = httpx.post(
                    f"http://{host}:{port}/populate",
                    json=body,
                    timeout=1.0,
                    verify=shared_context(),
                )
                if r.status_code < 300:
                    cont.state.image_id = cont.state.image_id  # populated
                    self._populated = getattr(self, "_populated", set()) | {cont.proc.pid}
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)

    def _terminate(self, cont: _Container, timeout: float) -> None:
        with self._lock:
            cont.stopping = True
            cont.restart_due = None
            proc = cont.proc
            if cont.state.status == Status.RESTARTING:
                cont.state.status = Status.EXITED
        if proc is None or proc.poll() is not None:
            self._reap(cont, timeout=1.0)
            return
        sig = STOP_SIGNALS.get(self._kind(cont.state.service), signal.SIGTERM)
        _killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
        self._reap(cont, timeout=5.0)

    def _reap(self, cont: _Container, timeout: float) -> None:
        proc = cont.proc
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        _killpg(proc.pid, signal.SIGKILL)  # whatever of its group is left (docker does too)
        for t in cont.readers:
            t.join(timeout=1.0)
        with self._lock:
            if cont.proc is proc:
                self._record_exit(cont, proc)

    def _record_exit(self, cont: _Container, proc: subprocess.Popen[bytes]) -> None:
        rc = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        st = cont.state
        st.exit_code = 128 - rc if rc < 0 else rc
        st.status = Status.EXITED
        st.finished_at = time.time()
        st.pid = None
        if cont.cgroup and cont.cgroup.oom_kills() > cont.oom_base:
            st.oom_killed = True
        cont.proc = None

    def _supervise(self) -> None:
        """Docker's restart policies, for processes that exit by themselves."""
        while not self._closed:
            with self._lock:
                now = time.monotonic()
                for cont in list(self._containers.values()):
                    proc = cont.proc
                    if proc is not None and proc.poll() is not None and not cont.stopping:
                        ran = time.time() - (cont.state.started_at or time.time())
                        _killpg(proc.pid, signal.SIGKILL)
                        self._record_exit(cont, proc)
                        if should_restart(cont.state.config.restart, cont.state.exit_code or 0):
                            if ran > 10:
                                cont.backoff = _RESTART_BACKOFF_START
                            cont.state.status = Status.RESTARTING
                            cont.restart_due = now + cont.backoff
                            cont.backoff = min(cont.backoff * 2, _RESTART_BACKOFF_MAX)
                    elif (
                        cont.state.status == Status.RESTARTING
                        and cont.restart_due is not None
                        and now >= cont.restart_due
                        and not cont.stopping
                    ):
                        cont.restart_due = None
                        cont.state.restart_count += 1
                        try:
                            self._spawn(cont)
                        except (OSError, StackError):
                            cont.state.status = Status.EXITED
                waits = [c.restart_due - now for c in self._containers.values() if c.restart_due]
                running = [
                    c.proc.pid
                    for c in self._containers.values()
                    if c.proc and c.proc.returncode is None and not c.stopping
                ]
            # Sleep until a service exits (its pidfd turns readable) or a restart is due; a
            # process started meanwhile by another thread is watched from the next round.
            self._wait_for_exit(running, min([SUPERVISE_MAX_WAIT_S, *waits]))
        for fd in self._pidfds.values():
            os.close(fd)
        self._pidfds.clear()

    def _wait_for_exit(self, pids: list[int], timeout: float) -> None:
        selector = selectors.DefaultSelector()
        try:
            for pid in pids:
                fd = self._pidfds.get(pid)
                if fd is None:
                    try:
                        fd = self._pidfds[pid] = os.pidfd_open(pid)
                    except OSError:  # already reaped: the next round's poll() records it
                        continue
                selector.register(fd, selectors.EVENT_READ)
            selector.select(max(0.0, timeout))
        finally:
            selector.close()
            for pid in [p for p in self._pidfds if p not in pids]:
                os.close(self._pidfds.pop(pid))

    # -- observation ------------------------------------------------------------------------
    def logs(self, service: str) -> list[tuple[float, str]]:
        cont = self._container(service)
        lines: list[tuple[float, str]] = []
        logdir = cont.log_path.parent
        # docker logs spans the container's restarts, not earlier containers of the service
        for path in sorted(logdir.glob(f"{cont.state.name}.*.log")):
            if path != cont.log_path:
                continue
            for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
                stamp, _, line = raw.partition(" ")
                try:
                    lines.append((float(stamp), line))
                except ValueError:
                    continue
        return lines

    def stats(self, service: str) -> ResourceUsage:
        cont = self._container(service)
        limit = cont.state.config.mem_limit_bytes if cont.cgroup else None
        if cont.proc is None or cont.proc.poll() is not None:
            return ResourceUsage(0, limit, 0.0, 0)
        try:
            root = psutil.Process(cont.proc.pid)
            procs = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in procs)
            cpu = sum(p.cpu_percent(interval=None) for p in procs)
        except psutil.Error:
            return ResourceUsage(0, limit, 0.0, 0)
        if cont.cgroup:
            rss = cont.cgroup.usage_bytes() or rss
        return ResourceUsage(rss, limit, cpu, len(procs))

    def exec(self, service: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        cont = self._container(service)
        if cont.state.status != Status.RUNNING:
            msg = f"Error response from daemon: container {cont.state.name} is not running\n"
            return ExecResult(1, b"", msg.encode())
        _, env, extra = self._argv_env_for_exec(cont)
        try:
            done = subprocess.run(
                argv,
                env=env,
                cwd=self.dir,
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                **extra,  # type: ignore[call-overload]
            )
        except FileNotFoundError:
            msg = (
                f"OCI runtime exec failed: exec failed: unable to start container process: "
                f'exec: "{argv[0]}": executable file not found in $PATH: unknown\n'
            )
            return ExecResult(127, b"", msg.encode())
        except subprocess.TimeoutExpired as exc:
            return ExecResult(124, exc.stdout or b"", (exc.stderr or b"") + b"\ntimed out\n")
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def _argv_env_for_exec(
        self, cont: _Container
    ) -> tuple[list[str], dict[str, str], dict[str, object]]:
        cfg, service = cont.state.config, cont.state.service
        path = os.pathsep.join(
            [os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")]
        )
        env = {"PATH": path, "LANG": "C.UTF-8", STACK_MARKER: self.id, "HOME": str(self.dir)}
        if self.bridge_socket and self.container_bin:  # service names resolve through the bridge
            env.update(
                PATH=self.container_bin + os.pathsep + path,
                GAMEDAY_BRIDGE=self.bridge_socket,
                GAMEDAY_CONTEXT=service,
            )
        env.update({k: self._rewrite(v, service) for k, v in cfg.environment})
        extra: dict[str, object] = {}
        if self._kind(service) == "postgres":
            owner = servers.run_as()
            if owner:
                extra = {"user": owner[0], "group": owner[1]}
            env["PATH"] = f"{servers.postgres_bindir()}{os.pathsep}{env['PATH']}"
            env["PGHOST"] = str(self.dir / "run" / service)
            env["PGPORT"] = str(self._ports[(service, 5432)])
        return [], env, extra

    def _healthy(self, service: str) -> bool:
        with self._lock:
            cont = self._containers.get(service)
            if cont is None or cont.state.status != Status.RUNNING:
                return False
            cfg = cont.state.config
        kind = self._kind(service)
        if kind == "postgres":
            user = cfg.env.get("POSTGRES_USER", "postgres")
            return servers.postgres_ready(
                self._ports[(service, 5432)], user, cfg.env.get("POSTGRES_DB", user)
            )
        if kind == "redis":
            return servers.redis_ping(self._ports[(service, 6379)])
        if kind == "toxiproxy":
            return cont.proc is not None and cont.proc.pid in getattr(self, "_populated", set())
        hc = cfg.healthcheck
        if hc and len(hc.test) >= 2 and "harness.services.probe" in hc.test:
            url = self._rewrite_url(hc.test[-1], service)
            try:
                return (
                    httpx.get(url, timeout=hc.timeout_s, verify=shared_context()).status_code < 300
                )
            except httpx.HTTPError:
                return False
        ports = [p for (s, p) in self._ports if s == service]
        return all(port_open(self._ports[(service, p)]) for p in ports)

    def _rewrite_url(self, url: str, service: str) -> str:
        def own(m: re.Match[str]) -> str:
            port = int(m.group(2))
            return f"127.0.0.1:{self._ports.get((service, port), port)}"

        return re.sub(r"(127\.0\.0\.1|localhost):(\d+)", own, url)

    def image_env(self, image: str) -> dict[str, str] | None:
        # The app image's ENV lines (see Dockerfile): what `docker run --rm IMAGE env` shows.
        if not any(c.image == image for c in self.resolve_config().values()):
            return None
        env = {
            "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
        }
        dockerfile = self.compose.path.parent / "Dockerfile"
        if dockerfile.exists() and "testgen" in image:
            for line in dockerfile.read_text().splitlines():
                parts = line.strip().split(None, 1)
                if len(parts) == 2 and parts[0].upper() == "ENV":
                    for item in parts[1].split():
                        k, sep, v = item.partition("=")
                        if sep:
                            env[k] = v.strip('"')
        return env

    def images(self) -> list[tuple[str, str, str]]:
        seen = {}
        for cfg in self.resolve_config().values():
            repo, _, tag = (
                cfg.image.rpartition(":")
                if ":" in cfg.image.rsplit("/", 1)[-1]
                else (cfg.image, "", "latest")
            )
            seen[(repo, tag or "latest")] = image_id(cfg.image)
        return [(r, t, i) for (r, t), i in seen.items()]

    def owns_pid(self, pid: int) -> bool:
        """A process this stack started: one of its live children (an unreaped child's pid
        cannot be reused), or one carrying the stack's marker (their descendants)."""
        with self._lock:
            for cont in self._containers.values():
                if cont.proc is not None and cont.proc.pid == pid and cont.proc.poll() is None:
                    return True
        try:
            return psutil.Process(pid).environ().get(STACK_MARKER) == self.id
        except (psutil.Error, OSError):
            return False


_TMPFS, _TMPFS_MIN_FREE = "/dev/shm", 512 * 2**20


def stack_root() -> str:
    """Where stack dirs go: $TMPDIR when the user set one; else the shared-memory tmpfs when
    it has room, since the PostgreSQL volume copy (34 MB, 1300 files) is the slowest part of
    a cold start and takes 0.35 s on this VM's ext4 against 0.04 s on tmpfs; else /tmp."""
    if os.environ.get("TMPDIR"):
        return tempfile.gettempdir()
    try:
        fs = os.statvfs(_TMPFS)
        if fs.f_bavail * fs.f_frsize >= _TMPFS_MIN_FREE and os.access(_TMPFS, os.W_OK | os.X_OK):
            return _TMPFS
    except OSError:
        pass
    return tempfile.gettempdir()




def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _pump(
    stream: IO[bytes] | None, log: IO[str], lock: threading.Lock, remaining: list[int]
) -> None:
    """Copy a process's output into the container log, one timestamped line at a time."""
    try:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with lock:
                log.write(f"{time.time():.6f} {line}\n")
                log.flush()
    finally:
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                log.close()
