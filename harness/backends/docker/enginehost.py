"""The engine's host: where faults act (iptables, signals, a process holding a port).

On a local engine that is this machine, so the harness acts directly. On a remote engine
(location.py) it acts through a helper container that the stack starts on the engine:

    harness ──exec──▶ helper container on the engine
                      network: the engine host's (a port bound there is the host's port;
                               the stack bridge's gateway address is there: the resolver)
                      pid:     the engine host's (container pids as `docker inspect` gives
                               them: `kill` reaches a service's main process)
                      iptables: the engine host's binary, in the engine host's mount
                               namespace (`nsenter -t <its shim> -m`), on its network
    caps: NET_ADMIN (rules), SYS_ADMIN + SYS_PTRACE + SYS_CHROOT (nsenter), KILL, NET_BIND_SERVICE
    (never `--privileged`: a rootful engine inside a container may not grant every cap)

The helper's image is the stack's application image (it has python3, nsenter and kill);
GAMEDAY_ENGINE_HELPER_IMAGE overrides it. It carries the stack's labels, so it goes with
the stack (close, reaper, sweep), and its main process (resolver.py's `main`) serves the
stack's NXDOMAIN resolver and deletes the stack's egress rule when it is stopped.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from harness.backends.docker import labels as lbl
from harness.backends.docker import resolver
from harness.backends.docker.execute import run_in
from harness.errors import StackError

HELPER_IMAGE_ENV = "GAMEDAY_ENGINE_HELPER_IMAGE"
DEFAULT_HELPER_IMAGE = "testgen-copilot:latest"
ROLE = "gameday.role"  # "engine-host" on helper containers (not a compose service)
CAPS = ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT", "KILL", "NET_BIND_SERVICE"]
# `fuser PORT/tcp` on the engine's host: listening sockets of its network namespace (the
# helper's own, /proc/net), then the pids holding them (the host's pid namespace).
_PORT_HOLDERS = """
import os, sys
port, inodes, pids = int(sys.argv[1]), set(), set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A":
            inodes.add("socket:[" + f[9] + "]")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        continue
    if inodes.intersection(links):
        pids.add(int(pid))
print(" ".join(map(str, sorted(pids))))
"""
_TOOLS = "command -v python3 >/dev/null && command -v nsenter >/dev/null && command -v kill"


def helper_image() -> str:
    return os.environ.get(HELPER_IMAGE_ENV) or DEFAULT_HELPER_IMAGE


class LocalHost:
    """The engine runs on this machine: act here."""

    remote = False

    def run(self, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def kill(self, pid: int, sig: int) -> None:
        os.kill(pid, sig)

    def port_holders(self, port: int) -> list[int]:
        import psutil

        return sorted(
            {
                c.pid
                for c in psutil.net_connections("tcp")
                if c.pid and c.laddr and c.laddr.port == port and c.status == "LISTEN"
            }
        )

    def cgroup(self, pid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                return f.read()
        except OSError:
            return None

    def close(self) -> None:
        pass


class HelperHost:
    """The engine's host, through a helper container on it (see the module's picture)."""

    remote = True

    def __init__(self, client: docker.DockerClient, container_id: str, shim_pid: str) -> None:
        self.client, self.id, self._shim = client, container_id, shim_pid

    @classmethod
    def start(
        cls,
        client: docker.DockerClient,
        labels: dict[str, str],
        dns_address: str = "",
        undo: list[str] | None = None,
        lifetime: float = 0.0,
    ) -> HelperHost:
        """A helper on the engine; StackError in one line when the engine refuses it."""
        image = helper_image()
        argv = ["python3", "-c", inspect.getsource(resolver), "--dns", dns_address]
        argv += ["--lifetime", str(lifetime)]
        for command in undo or []:
            argv += ["--undo", command]
        try:
            created = client.api.create_container(
                image,
                argv,
                name=f"gameday-engine-host-{uuid.uuid4().hex[:8]}",
                labels={**labels, ROLE: "engine-host"},
                host_config=client.api.create_host_config(
                    network_mode="host", pid_mode="host", cap_add=CAPS, auto_remove=lifetime > 0
                ),
            )
            client.api.start(created["Id"])
            pid = int(client.api.inspect_container(created["Id"])["State"]["Pid"] or 0)
        except (DockerException, KeyError, ValueError) as exc:
            raise StackError(
                f"the remote engine refused the engine-host helper container ({image}): "
                f"{_short(exc)}; egress rules, the resolver, crashes and the port squatter "
                "act through it"
            ) from None
        host = cls(client, created["Id"], "")
        found = host._exec(["sh", "-c", f"{_TOOLS} >/dev/null && awk '/^PPid/{{print $2}}' "
                            f"/proc/{pid}/status"])
        if found.returncode != 0 or not found.stdout.strip():
            host.close()
            raise StackError(
                f"the engine-host helper image {image} lacks python3, nsenter or kill "
                f"(set {HELPER_IMAGE_ENV} to an image that has them)"
            )
        host._shim = found.stdout.strip()
        return host

    def _exec(self, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        done = run_in(self.client, self.id, argv, timeout, kill=None)
        return subprocess.CompletedProcess(
            argv, done.exit_code, done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    def run(self, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """A tool of the engine's host (its file system), on the engine host's network."""
        return self._exec(["nsenter", "-t", self._shim, "-m", "--", *argv], timeout)

    def kill(self, pid: int, sig: int) -> None:
        done = self._exec(["kill", "-s", signal.Signals(sig).name[3:], str(pid)])
        if done.returncode != 0:
            raise ProcessLookupError(done.stderr.strip() or f"kill {pid} failed")

    def port_holders(self, port: int) -> list[int]:
        done = self._exec(["python3", "-c", _PORT_HOLDERS, str(port)])
        return [int(pid) for pid in done.stdout.split()] if done.returncode == 0 else []

    def cgroup(self, pid: int) -> str | None:
        done = self._exec(["cat", f"/proc/{pid}/cgroup"])
        return done.stdout if done.returncode == 0 else None

    def close(self) -> None:
        """Stop (SIGTERM: the helper deletes the stack's rule), then remove."""
        with contextlib.suppress(NotFound, APIError):
            self.client.api.stop(self.id, timeout=5)
        with contextlib.suppress(NotFound, APIError):
            self.client.api.remove_container(self.id, force=True)


@contextlib.contextmanager
def transient(client: docker.DockerClient) -> Iterator[HelperHost]:
    """A helper for one look at the engine's host (the leftover check, a sweep)."""
    # Bounded life and auto-removal: even a killed caller leaves it for minutes at most.
    host = HelperHost.start(client, {lbl.HELPER: "transient"}, lifetime=300)
    try:
        yield host
    finally:
        host.close()


def stop_helpers(client: docker.DockerClient, flt: dict[str, Any]) -> None:
    """Stop the helpers among a stack's containers first, so each deletes its rule (a
    forced removal is a SIGKILL, which gives it no chance)."""
    flt = {"label": [*flt.get("label", []), f"{ROLE}=engine-host"]}
    with contextlib.suppress(DockerException):
        for entry in client.api.containers(filters=flt):
            with contextlib.suppress(NotFound, APIError):
                client.api.stop(entry["Id"], timeout=5)


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:200]
