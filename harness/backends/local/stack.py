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

import httpx
import psutil

from harness.backends.base import (
    ContainerState,
    Stack,
    Status,
    image_id,
    should_restart,
)
from harness.backends.local import processes, python_services, reaper, servers
from harness.backends.local.cgroup import MemoryCgroup
from harness.backends.local.observe import STACK_MARKER, LocalObservation
from harness.backends.local.processes import killpg, pump, stack_root
from harness.backends.local.zygote import ForkedProcess, Zygote
from harness.compose import ComposeFile, ServiceConfig
from harness.errors import BlastRadiusError, StackError
from harness.tls import shared_context

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
    proc: subprocess.Popen[bytes] | ForkedProcess | None = None
    stopping: bool = False  # stopped/killed through the engine: no restart
    restart_due: float | None = None
    backoff: float = _RESTART_BACKOFF_START
    cgroup: MemoryCgroup | None = None
    oom_base: int = 0
    readers: list[threading.Thread] = field(default_factory=list)


class LocalStack(LocalObservation, Stack):
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
        self._zygote, self._own_zygote = self._start_zygote()
        self._pidfds: dict[int, int] = {}  # the supervisor's, for the processes it watches
        self._supervisor = threading.Thread(target=self._supervise, daemon=True, name="supervisor")
        self._supervisor.start()

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
                    killpg(
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
        if self._zygote is not None and self._own_zygote:
            self._zygote.close()
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
        command = config.local.get("command") or []
        if self._zygote is not None and list(command[:2]) == ["{python}", "-m"]:
            self._zygote.ready()  # its imports, outside the lock too
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
            killpg(proc.pid, sig)
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
        env = self._base_env()
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
            argv = processes.postgres_argv(data, self._ports[(service, 5432)], sockets)
        elif kind == "redis":
            # The deployment's volume for /data (`down -v` removes it with the rest).
            data = self._mounts(service).get("/data", self.dir / "volumes" / f"{service}-data")
            data.mkdir(parents=True, exist_ok=True)
            argv = processes.redis_argv(cfg, self._ports[(service, 6379)], data)
        else:
            command = local.get("command") or list(cfg.command)
            if not command:
                raise StackError(
                    f"service {service} has no command to run locally (x-local.command)"
                )
            argv = [self._rewrite(str(c), service) for c in command]
        return argv, env, extra

    def _base_env(self) -> dict[str, str]:
        """What every service's environment starts from (its compose environment follows)."""
        return python_services.base_env(str(self.dir), self.id)

    def _start_zygote(self) -> tuple[Zygote | None, bool]:
        zygote, ours = python_services.zygote_for_stack(self.compose, self._base_env(), self.dir)
        if zygote is not None and ours:
            with open(self._pidfile, "a") as pids:  # the reaper ends it if this process dies
                pids.write(f"{zygote.proc.pid} {reaper.start_time(zygote.proc.pid)}\n")
        return zygote, ours

    def _spawn(self, cont: _Container) -> None:
        argv, env, extra = self._argv_env(cont)
        procs_file = cont.cgroup.procs_file if cont.cgroup else None
        if cont.cgroup:
            cont.oom_base = cont.cgroup.oom_kills()
        proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        if self._zygote is not None and not extra:
            proc = self._zygote.fork(argv, env, self.dir, procs_file)
        if proc is None:
            if procs_file:
                # Join the cgroup before exec, so every byte the service allocates is charged.
                argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs_file), *argv]
            proc = subprocess.Popen(  # type: ignore[call-overload]
                argv,
                env=env,
                cwd=self.dir,
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
            threading.Thread(target=pump, args=(stream, log, lock, remaining), daemon=True)
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
        killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killpg(proc.pid, signal.SIGKILL)
        self._reap(cont, timeout=5.0)

    def _reap(self, cont: _Container, timeout: float) -> None:
        proc = cont.proc
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        killpg(proc.pid, signal.SIGKILL)  # whatever of its group is left (docker does too)
        for t in cont.readers:
            t.join(timeout=1.0)
        with self._lock:
            if cont.proc is proc:
                self._record_exit(cont, proc)

    def _record_exit(
        self, cont: _Container, proc: subprocess.Popen[bytes] | ForkedProcess
    ) -> None:
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
                        killpg(proc.pid, signal.SIGKILL)
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
