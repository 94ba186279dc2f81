"""DockerStack: every service of the compose file as a real container (Testcontainers).

    compose file ──resolve──▶ ServiceConfig ──▶ ServiceContainer ──▶ engine
                                                 on the stack's Network (aliases = service
                                                 names, so `postgres:5432` resolves as in
                                                 production), ports on 127.0.0.1
    engine: restart policies, memory limits, OOM kills, healthchecks (its own, not emulated)
    harness: crash = SIGKILL to the container's main pid from the host (the engine sees it
             die by itself); kill/stop = through the engine (stays down)
    engine elsewhere (DOCKER_HOST=tcp://…): site.py says what acts where

Container names. `ContainerState.name` is always production's (`testgen-copilot`), which
is what the command bridge matches runbook commands against. The engine's name is the
same when it is free, so `docker logs testgen-copilot` works on the host during a
gameday; when it is taken (another stack on the engine, or a real `testgen-copilot`, which
is never touched) the container is `<name>-<stack id>` and the stack notes it. So stacks
can run side by side on one engine; the first one gets production's names.

Every container, network and volume carries the stack's labels; see cleanup.py for how
none of them outlives the stack.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, NotFound
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import WaitStrategy

from harness.backends.base import (
    ContainerState,
    ExecResult,
    ResourceUsage,
    Stack,
)
from harness.backends.docker import cleanup, engine, images, reaper, runs
from harness.backends.docker import labels as lbl
from harness.backends.docker.container import ServiceContainer, healthcheck_argv
from harness.backends.docker.execute import run_in
from harness.backends.docker.inspections import Inspections
from harness.backends.docker.ports import TOXIPROXY_API_PORT, PortPlan, service_kind
from harness.backends.docker.proxies import ProxyLinks, StartEvents
from harness.backends.docker.readiness import ListenerGatedExecWait
from harness.backends.docker.site import StackSite
from harness.backends.docker.state import container_state, log_lines, resource_usage
from harness.compose import ComposeFile, ServiceConfig
from harness.errors import BlastRadiusError, StackError

_HEALTH_EXEC_EVERY = 0.25  # seconds between our own runs of a service's healthcheck
_HEALTH_EXEC_TIMEOUT = 15.0  # how long our own run of it may take (see _healthy)


@dataclass
class _Service:
    container: ServiceContainer
    id: str
    docker_name: str
    config: ServiceConfig


class DockerStack(Stack):
    """The TestGen stack as containers on the local Docker engine.

    with DockerStack(ComposeFile("docker-compose.chaos.yml")) as stack:
        stack.up()
        host, port = stack.published(8000)   # production's localhost:8000
    """

    backend_name = "docker"

    def __init__(
        self,
        compose: ComposeFile,
        shell_env: Mapping[str, str] | None = None,
        env_example: Path | None = None,
        keep_dir: bool = False,
    ) -> None:
        super().__init__(compose)
        self.id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.client = engine.connect()
        self._inspections = Inspections(self.client.api)  # containers(): see inspections.py
        self._owner = lbl.owner_label()
        self._notes: list[str] = []
        # Dead runs first: their host processes, temp dirs and rules too (runs.py), then
        # any labelled engine resource whose owner process is gone.
        swept = runs.sweep(self.client) + cleanup.sweep_dead_stacks(self.client)
        if swept:
            self._notes.append(f"removed leftovers of dead gameday runs: {', '.join(swept)}")
        self._lock = threading.RLock()
        self._volume_lock = threading.Lock()
        self._closed = False
        self._services: dict[str, _Service] = {}
        self._network: Network | None = None
        self.site = StackSite(self.client, self.id, lbl.stack_labels(self.id, self._owner))
        if self.site.remote:
            self._notes.append(
                f"{self.site.location.describe()}: ports reached at {self.site.location.host}, "
                "faults act on the engine's host through a helper container"
            )
        self._events: StartEvents | None = None
        self._health_exec_at: dict[str, float] = {}
        self._links = ProxyLinks(compose.proxies)
        self._volumes = {str(v): f"gameday-{self.id}_{v}" for v in compose.volume_names}
        self._ports = PortPlan.allocate(compose, self.site.location.host)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{runs.DIR_PREFIX}{self.id}-"))
        self._registration = runs.Registration(
            runs.Record(
                self.id, self._owner, str(self.dir), os.environ.get(runs.RUN_ENV, ""),
                runs.current_engine(),
            )
        )
        self._open_operator_dir(shell_env, env_example)
        self._keep_dir = keep_dir
        self._reaper = reaper.spawn(self.id, None if keep_dir else self.dir)
        cleanup.guard(self)

    # -- configuration ---------------------------------------------------------------
    def _note(self, text: str) -> None:
        if text not in self._notes:
            self._notes.append(text)

    # -- lifecycle ---------------------------------------------------------------------
    def up(self, timeout: float = 60.0) -> None:
        """Every default service created and started at once, each in its own thread (the
        engine's create + start is ~1 s a container here, and the services wait for their
        dependencies themselves), each then waited for by its own healthcheck through
        Testcontainers' ExecWaitStrategy: the engine runs that check only once per
        interval, running it ourselves answers the moment the service is ready (on a local
        engine, each exec waits for a TCP listener in the container: readiness.py)."""
        configs = self.resolve_config()
        order = self.compose.startup_order()
        self.site.check({name: configs[name] for name in order})
        images.require(self.client, [configs[name].image for name in order] + self.site.images())
        with self._lock:
            self._check_open()
            self._ensure_network()
        deadline = time.monotonic() + timeout
        failures: dict[str, str] = {}
        local = not self.site.remote  # container pids are this host's (readiness.py)

        def bring_up(name: str) -> None:
            try:
                proxy = service_kind(self.compose, name) == "toxiproxy"  # ready: links made
                strategy = None if proxy else _exec_wait(configs[name], deadline, local)
                self.create(name, configs[name], wait=strategy)
                if strategy is None and not self.wait_healthy(
                    name, max(0.1, deadline - time.monotonic())
                ):
                    failures[name] = "not healthy"
            except TimeoutError:
                failures[name] = "not healthy"
            except StackError as exc:
                failures[name] = str(exc)

        threads = [threading.Thread(target=bring_up, args=(n,), name=f"up-{n}") for n in order]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in order:
            if name not in failures:
                continue
            state = self.containers().get(name)
            tail = "\n".join(line for _, line in self.logs(name)[-5:]) if state else ""
            status = state.status.value if state else "missing"
            raise StackError(
                f"service {name} did not become healthy in {timeout:.0f}s "
                f"(container {status}; {failures[name]}):\n{tail}"
            )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            services = list(self._services.values())
            self._services.clear()
        clean = False
        try:
            if self._events is not None:
                self._events.close()
            self.site.close()  # the helper (remote) first: it deletes the rule on its way out
            cleanup.remove_stack(self.client, self.id)
            runs.kill_host_processes(self.id, str(self.dir))  # a fault's squatter, if it is left
            clean = not cleanup.left_of(self.client, self.id)
        except DockerException as exc:
            self._note(f"teardown: {exc}; the reaper removes what is left")
        finally:
            for svc in services:
                svc.container.get_docker_client().client.close()
            reaper.release(self._reaper, clean)  # it checks (unless clean), then exits
            cleanup.unguard(self)
            self.client.close()
            if not self._keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            self._registration.release()

    def _check_open(self) -> None:
        if self._closed:
            raise StackError("the stack is closed")

    def _ensure_network(self) -> Network:
        if self._network is None:
            labels = lbl.stack_labels(self.id, self._owner)
            net = Network(docker_network_kw={"driver": "bridge", "labels": labels})
            net.name = f"gameday-{self.id}"
            net.create()
            self._network = net
            for note in self.site.open(str(net.id)):
                self._note(note)
            changed = self._inspections.on_event
            self._events = StartEvents(self.id, self._on_engine_start, changed).start()
        return self._network

    def _ensure_volumes(self, config: ServiceConfig) -> None:
        for entry in config.volumes:
            source = entry.partition(":")[0]
            real = self._volumes.get(source)
            if real is None:
                continue
            try:
                self.client.volumes.get(real)
            except NotFound:
                self.client.volumes.create(real, labels=lbl.stack_labels(self.id, self._owner))

    # -- containers ----------------------------------------------------------------------
    def containers(self) -> dict[str, ContainerState]:
        with self._lock:
            services = list(self._services.items())
        out = {}
        for service, svc in services:
            try:
                attrs = self._inspections.inspect(svc.id)
            except NotFound:
                continue
            out[service] = container_state(attrs, service, svc.config.container_name, svc.config)
        return out

    def _service(self, service: str) -> _Service:
        with self._lock:
            try:
                return self._services[service]
            except KeyError:
                raise StackError(f"no such container for service {service!r}") from None

    def create(
        self, service: str, config: ServiceConfig, wait: WaitStrategy | None = None
    ) -> None:
        """Create (replacing any existing container) and start; with `wait`, also wait until
        it is ready (TimeoutError if not). The engine's create + start runs outside the
        stack's lock, so `up` creates every service at once."""
        with self._lock:
            self._check_open()
            if service in self._services:
                self.remove(service)
            network = self._ensure_network()
        images.require(self.client, [config.image])
        with self._volume_lock:
            self._ensure_volumes(config)
        mounts = self.site.mounts(config, self.dir, self._volumes)
        labels = lbl.stack_labels(self.id, self._owner)
        for docker_name in (config.container_name, f"{config.container_name}-{self.id}"):
            container = ServiceContainer(
                config,
                network=network,
                docker_name=docker_name,
                host_ports=self._ports.for_service(service),
                mounts=mounts,
                labels=labels,
                dns=self.site.dns,
                bind=self.site.location.bind,
            )
            if wait is not None:
                container.waiting_for(wait)
            try:
                container.start()
            except APIError as exc:
                created = container._container  # created, but the engine could not start it
                name_taken = exc.status_code == 409 and docker_name == config.container_name
                if created is None and name_taken:
                    self._note(
                        f"container name {docker_name} was taken on this engine; this "
                        f"stack's {service} runs as {docker_name}-{self.id}"
                    )
                    container.get_docker_client().client.close()
                    continue
                if created is not None:
                    self._adopt(service, _Service(container, str(created.id), docker_name, config))
                else:
                    container.get_docker_client().client.close()
                raise StackError(
                    f"cannot start {config.container_name}: {exc.explanation or exc}"
                ) from None
            except TimeoutError:
                created = container._container  # started, never ready
                if created is not None:
                    self._adopt(service, _Service(container, str(created.id), docker_name, config))
                raise
            wrapped = container.get_wrapped_container()
            self._adopt(service, _Service(container, str(wrapped.id), docker_name, config))
            break
        self._after_start(service)

    def _adopt(self, service: str, svc: _Service) -> None:
        """Record a container the engine made for a service; one made while the stack was
        closing (its teardown already listed what to remove) is removed here."""
        with self._lock:
            closed = self._closed
            if not closed:
                self._services[service] = svc
        if closed:
            with contextlib.suppress(DockerException):
                self.client.api.remove_container(svc.id, v=True, force=True)
            svc.container.get_docker_client().client.close()
            raise StackError("the stack is closed")

    def start(self, service: str) -> None:
        svc = self._service(service)
        try:
            self.client.api.start(svc.id)
        except APIError as exc:
            raise StackError(
                f"cannot start {svc.config.container_name}: {exc.explanation or exc}"
            ) from None
        self._after_start(service)

    def stop(self, service: str, timeout: float = 10.0) -> None:
        svc = self._service(service)
        with contextlib.suppress(NotFound):
            self.client.api.stop(svc.id, timeout=math.ceil(timeout))
        self._inspections.changed()

    def restart(self, service: str, timeout: float = 10.0) -> None:
        svc = self._service(service)
        try:
            self.client.api.restart(svc.id, timeout=math.ceil(timeout))
        except APIError as exc:
            raise StackError(
                f"cannot restart {svc.config.container_name}: {exc.explanation or exc}"
            ) from None
        self._after_start(service)

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        svc = self._service(service)
        try:
            self.client.api.kill(svc.id, signal=int(sig))
        except APIError as exc:
            if exc.status_code != 409:  # 409: not running, nothing to kill
                raise StackError(
                    f"cannot kill {svc.config.container_name}: {exc.explanation or exc}"
                ) from None
            return
        self._inspections.changed()
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._running(svc):
                time.sleep(0.02)

    def remove(self, service: str) -> None:
        with self._lock:
            svc = self._services.get(service)
            if svc is None:
                return
            try:
                if self._running(svc):
                    self.client.api.stop(svc.id, timeout=10)
                self.client.api.remove_container(svc.id, v=True, force=True)
            except NotFound:
                pass
            svc.container.get_docker_client().client.close()
            del self._services[service]
            self._inspections.changed()

    def remove_volumes(self) -> list[str]:
        removed = []
        for name, real in self._volumes.items():
            try:
                self.client.volumes.get(real).remove()
            except NotFound:
                continue
            except APIError as exc:
                raise StackError(
                    f"cannot remove volume {self.compose.project}_{name}: {exc.explanation or exc}"
                ) from None
            removed.append(f"{self.compose.project}_{name}")
        if removed:  # the runner names the step that destroyed data from this record
            self.volume_removals.append((time.time(), removed))
        return removed

    def crash(self, service: str, sig: int = signal.SIGKILL) -> int:
        svc = self._service(service)
        state = self.client.api.inspect_container(svc.id).get("State") or {}
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or state.get("Restarting") or not pid:
            raise StackError(f"{service} is not running: nothing to crash")
        if not self.owns_pid(pid):
            raise BlastRadiusError(f"pid {pid} is not owned by this stack")
        # The main process only, from outside the engine (on its host), as the kernel would.
        self.site.host.kill(pid, sig)
        self._inspections.changed()
        return pid

    def _running(self, svc: _Service) -> bool:
        try:
            state = self.client.api.inspect_container(svc.id).get("State") or {}
        except NotFound:
            return False
        return bool(state.get("Running"))

    # -- the fault proxy -----------------------------------------------------------------
    def _after_start(self, service: str) -> None:
        self._inspections.changed()
        if service_kind(self.compose, service) == "toxiproxy":
            svc = self._services.get(service)
            if svc is not None:
                self._on_engine_start(service, svc.id)

    def _on_engine_start(self, service: str, container_id: str) -> None:
        if service_kind(self.compose, service) != "toxiproxy" or self._closed:
            return
        try:
            started_at = self.client.api.inspect_container(container_id)["State"]["StartedAt"]
        except (DockerException, KeyError):
            return
        api = self._ports.endpoint(service, TOXIPROXY_API_PORT)
        if api is None:
            return

        def still_current() -> bool:
            if self._closed:
                return False
            try:
                st = self.client.api.inspect_container(container_id)["State"]
            except (DockerException, KeyError):
                return False
            return bool(st.get("Running")) and st.get("StartedAt") == started_at

        threading.Thread(
            target=self._links.populate,
            args=(api, container_id, started_at, still_current),
            daemon=True,
            name="toxiproxy-populate",
        ).start()

    # -- observation ------------------------------------------------------------------------
    def logs(self, service: str) -> list[tuple[float, str]]:
        svc = self._service(service)
        try:
            raw = self.client.api.logs(svc.id, stdout=True, stderr=True, timestamps=True)
        except NotFound:
            return []
        return log_lines(raw)

    def stats(self, service: str) -> ResourceUsage:
        svc = self._service(service)
        attrs = self.client.api.inspect_container(svc.id)
        limit = int((attrs.get("HostConfig") or {}).get("Memory") or 0) or None
        if not (attrs.get("State") or {}).get("Running"):
            return ResourceUsage(0, limit, 0.0, 0)
        sample: dict[str, Any] = self.client.api.stats(svc.id, stream=False)
        return resource_usage(sample, limit)

    def exec(self, service: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        svc = self._service(service)
        return run_in(self.client, svc.id, argv, timeout, kill=self.site.host.kill)

    def _healthy(self, service: str) -> bool:
        with self._lock:
            svc = self._services.get(service)
        if svc is None:
            return False
        try:
            state = self.client.api.inspect_container(svc.id).get("State") or {}
        except NotFound:
            return False
        if not state.get("Running") or state.get("Restarting"):
            return False
        if service_kind(self.compose, service) == "toxiproxy":
            return self._links.populated_for(svc.id, str(state.get("StartedAt")))
        if (state.get("Health") or {}).get("Status") == "healthy":
            return True
        hc = svc.config.healthcheck
        argv = healthcheck_argv(hc) if hc is not None else None
        if hc is not None and argv is not None:
            # The engine runs the check once per interval; running it ourselves between
            # those answers the moment the service is ready, by the service's own test.
            now = time.monotonic()
            if now - self._health_exec_at.get(service, 0.0) < _HEALTH_EXEC_EVERY:
                return False
            self._health_exec_at[service] = now
            # The check's own timeout is the engine's business (its health status); a ready
            # answer that comes late on a loaded machine (python starting in seconds) is
            # still a ready answer.
            deadline = max(hc.timeout_s, _HEALTH_EXEC_TIMEOUT)
            kill = self.site.host.kill
            return run_in(self.client, svc.id, argv, deadline, kill=kill).exit_code == 0
        host = self.site.location.host
        return all(_port_open(host, port) for port in self._ports.for_service(service).values())

    # -- addresses ---------------------------------------------------------------------------
    def endpoint(self, service: str, container_port: int) -> tuple[str, int]:
        address = self._ports.endpoint(service, container_port)
        if address is None:
            raise StackError(f"service {service!r} exposes no port {container_port}")
        return address

    def published(self, host_port: int) -> tuple[str, int] | None:
        return self._ports.published(host_port)

    # -- images and ownership ------------------------------------------------------------------
    def image_env(self, image: str) -> dict[str, str] | None:
        return images.image_env(self.client, image)

    def images(self) -> list[tuple[str, str, str]]:
        return images.rows(self.client, [c.image for c in self.resolve_config().values()])

    def owns_pid(self, pid: int) -> bool:
        """True when pid runs inside one of this stack's containers (its cgroup names one),
        or is a host process the harness started for this stack (it carries the marker)."""
        cgroups = self.site.host.cgroup(pid)
        if cgroups is None:
            return False
        with self._lock:
            ids = [svc.id for svc in self._services.values()]
        if self.site.remote:  # also what the stack started on the engine's host (a squatter)
            ids += [c["Id"] for c in self.client.api.containers(filters=lbl.stack_filter(self.id))]
        if any(cid in cgroups for cid in ids):
            return True
        if self.site.remote:  # pids are the engine host's: this machine's /proc says nothing
            return False
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"GAMEDAY_STACK_ID={self.id}".encode() in environ

    # -- the engine's host (site.py) -----------------------------------------------------------
    def host_process(self, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        return self.site.host_process(argv, env) or super().host_process(argv, env)

    def port_holders(self, port: int) -> list[int]:
        return self.site.host.port_holders(port)

    def signal_host_pid(self, pid: int, sig: int) -> None:
        self.site.host.kill(pid, sig)

    def host_path(self, production_path: str) -> Path | None:
        """On a remote engine, the operator's files are first copied back (operatorfiles.py)."""
        local = super().host_path(production_path)
        if local is not None and self.site.remote:
            for prod, rel in self.compose.host_paths.items():
                if production_path == prod or production_path.startswith(prod.rstrip("/") + "/"):
                    with self._lock:
                        ids = {name: svc.id for name, svc in self._services.items()}
                    self.site.refresh_host_path(
                        self.resolve_config(), ids, rel, self.dir / rel
                    )
        return local


def _exec_wait(config: ServiceConfig, deadline: float, local: bool) -> WaitStrategy | None:
    """The service's own healthcheck as a Testcontainers wait strategy, or None (no
    healthcheck, or one in a form `docker exec` cannot run)."""
    hc = config.healthcheck
    argv = healthcheck_argv(hc) if hc is not None else None
    if argv is None:
        return None
    return (
        ListenerGatedExecWait(argv, local)
        .with_poll_interval(_HEALTH_EXEC_EVERY)
        .with_startup_timeout(max(1, math.ceil(deadline - time.monotonic())))
    )


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False
