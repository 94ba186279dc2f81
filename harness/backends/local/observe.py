"""What the engine shows about a local stack's containers: logs, stats, `docker exec`,
healthchecks, image facts. A mixin of `LocalStack` (stack.py keeps the lifecycle)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from typing import Any

import httpx
import psutil

from harness.backends.base import ExecResult, ResourceUsage, Status, image_id
from harness.backends.local import servers
from harness.backends.local.addresses import LocalAddresses
from harness.backends.local.ports import port_open
from harness.tls import shared_context

STACK_MARKER = "GAMEDAY_STACK_ID"  # set in every process a local stack starts


class LocalObservation(LocalAddresses):
    """Read-only views (and `exec`) over the containers a `LocalStack` supervises."""

    id: str
    _lock: threading.RLock
    _containers: dict[str, Any]

    def _container(self, service: str) -> Any:
        raise NotImplementedError  # LocalStack's

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

    def _argv_env_for_exec(self, cont: Any) -> tuple[list[str], dict[str, str], dict[str, object]]:
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
            target = httpx.URL(url)
            # A refused connect is the same answer at 1/50 of an HTTP client's CPU; `up` asks
            # every 10 ms while the service starts.
            if target.host in ("127.0.0.1", "localhost") and not port_open(
                target.port or (443 if target.scheme == "https" else 80)
            ):
                return False
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
