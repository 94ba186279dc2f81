"""Where a stack lives on its engine: everything that differs between a local and a remote
engine, in one place, so the stack itself reads the same for both.

                         local engine                  remote engine (location.py)
    published ports      127.0.0.1:<port>              <engine address>:<port> (0.0.0.0 there)
    egress rule          iptables here                 iptables on the engine's host, via
                                                       the stack's helper (enginehost.py)
    NXDOMAIN resolver    a thread here, on the bridge  the helper's main process, on the
                         gateway                       bridge gateway of the engine's host
    crash, owns_pid      os.kill, /proc here           kill, /proc through the helper
    port squatter        a process here                a container on the engine host's
                                                       network (hostprocess.py)
    operator's files     bind mounts of the temp dir   volumes, copied back on read
                                                       (operatorfiles.py)
"""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound

from harness.backends.docker import cleanup, egress, enginehost, hostprocess, operatorfiles
from harness.backends.docker.container import mounts_for
from harness.backends.docker.location import EngineLocation, locate
from harness.backends.docker.resolver import NoSuchHost
from harness.compose import ServiceConfig
from harness.errors import StackError

EngineHost = enginehost.LocalHost | enginehost.HelperHost


class StackSite:
    def __init__(self, client: docker.DockerClient, stack_id: str, labels: dict[str, str]):
        self.client, self.stack_id, self.labels = client, stack_id, labels
        self.location: EngineLocation = locate()
        self.host: EngineHost = enginehost.LocalHost()
        self.dns: list[str] = []
        self._resolver: NoSuchHost | None = None
        self._bridge: str | None = None

    @property
    def remote(self) -> bool:
        return self.location.remote

    def check(self, configs: Mapping[str, ServiceConfig]) -> None:
        """One line naming what cannot work on this engine, before anything starts."""
        if not self.remote:
            return
        problems = operatorfiles.remote_problems(dict(configs))
        if problems:
            raise StackError(f"{self.location.describe()}: {problems[0]}")

    def images(self) -> list[str]:
        """Images the site needs besides the services' (the remote helper's)."""
        return [enginehost.helper_image()] if self.remote else []

    # -- the network's engine-side state -------------------------------------------------
    def open(self, network_id: str) -> list[str]:
        """Egress rule and resolver for the stack's new network; notes on what failed."""
        self._bridge = f"br-{network_id[:12]}"
        gateway = self._gateway(network_id)
        notes = []
        if self.remote:
            undo = [egress.undo_command(self._bridge, self.stack_id)]
            self.host = enginehost.HelperHost.start(self.client, self.labels, gateway, undo)
            if gateway:
                self.dns = [gateway]
        problem = egress.block(self._bridge, self.stack_id, self.host)
        if problem:
            notes.append(
                f"containers are not cut off from the network beyond the engine's host ({problem})"
            )
        egress.sweep(cleanup.live_stack_ids(self.client) | {self.stack_id}, self.host)
        if not self.remote:
            try:
                self._resolver = NoSuchHost(gateway) if gateway else None
                self.dns = [gateway] if gateway else []
            except OSError as exc:
                notes.append(
                    f"no DNS answer for names outside the stack ({exc}): a lookup of a "
                    "stopped service waits out the resolver's timeout"
                )
        return notes

    def _gateway(self, network_id: str) -> str:
        try:
            ipam = self.client.api.inspect_network(network_id).get("IPAM") or {}
        except DockerException:
            return ""
        return str(((ipam.get("Config") or [{}])[0]).get("Gateway") or "").partition("/")[0]

    def close(self) -> None:
        """Undo the engine-side state (the stack's containers are removed by the caller)."""
        if self._bridge:
            egress.unblock(self._bridge, self.stack_id, self.host)
        if self._resolver is not None:
            self._resolver.close()
        self.host.close()

    # -- containers -------------------------------------------------------------------------
    def mounts(
        self, config: ServiceConfig, stack_dir: Path, volumes: dict[str, str]
    ) -> dict[str, str]:
        if not self.remote:
            return mounts_for(config, stack_dir, volumes)
        binds = {
            source: operatorfiles.volume_name(self.stack_id, source)
            for source, _ in operatorfiles.bind_sources(config)
        }
        # Each bind source → the stack's volume standing in for it.
        renamed = []
        for entry in config.volumes:
            source, _, rest = entry.partition(":")
            renamed.append(f"{binds.get(source, source)}:{rest}")
        for name in binds.values():
            self._ensure_volume(name)
        return mounts_for(dataclasses.replace(config, volumes=tuple(renamed)), stack_dir, volumes)

    def _ensure_volume(self, name: str) -> None:
        try:
            self.client.volumes.get(name)
        except NotFound:
            self.client.volumes.create(name, labels=self.labels)

    def refresh_host_path(
        self, configs: Mapping[str, ServiceConfig], containers: Mapping[str, str],
        source: str, local: Path,
    ) -> None:
        """Copy a bind source's files back from a container that mounts it (remote only)."""
        if not self.remote:
            return
        for service, config in configs.items():
            for bind, target in operatorfiles.bind_sources(config):
                same = bind.lstrip("./").rstrip("/") == source.strip("/")
                if same and service in containers and operatorfiles.fetch(
                    self.client, containers[service], target, local
                ):
                    return

    def host_process(
        self, argv: list[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes] | None:
        """A process on the remote engine's host (None: start it here)."""
        if not self.remote:
            return None
        argv = ["python3" if a == sys.executable else self.location.engine_side(a) for a in argv]
        spec = {
            "image": enginehost.helper_image(),
            "labels": self.labels,
            "argv": argv,
            "name": f"gameday-{self.stack_id}-host-{secrets.token_hex(3)}",
        }
        return hostprocess.spawn(spec, dict(env))
