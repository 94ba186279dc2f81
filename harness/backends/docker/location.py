"""Where the engine runs, as the harness sees it: on this machine, or remote.

    DOCKER_HOST unset / unix://…   local: ports published on 127.0.0.1 and probed there;
                                   faults act on this host (iptables, signals, processes)
    DOCKER_HOST=tcp://docker:2375  remote (CI's docker-in-docker, a remote host, an ssh://
    or a Docker context            engine): ports published on every interface of the
                                   engine's host and probed at the engine's address, as
                                   Testcontainers' get_container_host_ip() finds it; faults
                                   act on the engine's host through a helper container
                                   (enginehost.py); the operator's files are volumes

A Docker context (`docker context use NAME`) is honoured as the docker CLI honours it: when
DOCKER_HOST is unset and the current context is not the default one, its endpoint becomes
DOCKER_HOST for this process and its children (the reaper, Testcontainers), so every
client of the run talks to the same engine.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

LOOPBACK = "127.0.0.1"
EVERY_INTERFACE = "0.0.0.0"
_LOCAL_SCHEMES = ("unix", "npipe", "http+unix")


@dataclass(frozen=True)
class EngineLocation:
    remote: bool
    host: str  # where the harness reaches a published port
    bind: str  # the host address the engine publishes ports on
    url: str  # the engine's API address ("" for the default local socket)

    def describe(self) -> str:
        return f"remote engine at {self.url}" if self.remote else "local engine"

    def engine_side(self, address: str) -> str:
        """An address as the harness reaches the engine's host, as that host binds it."""
        return self.bind if self.remote and address == self.host else address


def adopt_docker_context() -> None:
    """DOCKER_HOST from the current Docker context, when it is unset and a context is in use."""
    if os.environ.get("DOCKER_HOST"):
        return
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
    except Exception:  # noqa: BLE001 - an unreadable CLI config means "no context"
        return
    host = getattr(context, "Host", None) if context is not None else None
    if context is not None and context.name != "default" and host:
        os.environ["DOCKER_HOST"] = str(host)


def locate() -> EngineLocation:
    """The engine's location from DOCKER_HOST (or the Docker context)."""
    adopt_docker_context()
    url = os.environ.get("DOCKER_HOST", "")
    parsed = urlparse(url) if url else None
    if parsed is None or parsed.scheme in _LOCAL_SCHEMES or not parsed.hostname:
        return EngineLocation(False, LOOPBACK, LOOPBACK, url)
    return EngineLocation(True, _engine_address(parsed.hostname), EVERY_INTERFACE, url)


def _engine_address(hostname: str) -> str:
    """Testcontainers' rule: TESTCONTAINERS_HOST_OVERRIDE, else DOCKER_HOST's host name;
    resolved once, so every address in a report names the same engine."""
    override = os.environ.get("TESTCONTAINERS_HOST_OVERRIDE") or os.environ.get("TC_HOST")
    name = override or hostname
    try:
        return socket.gethostbyname(name)
    except OSError:
        return name
