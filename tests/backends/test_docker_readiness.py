"""The docker backend's `up` waits for a TCP listener in a container before it execs the
service's healthcheck (readiness.py): the listener test reads the container's network
namespace from this host, skips the engine's embedded DNS, and says "unknown" where the
namespace cannot be read (the wait then polls as before)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import pytest

from harness.backends.docker.readiness import ListenerGatedExecWait, tcp_listening

from .support import require_backend


def test_a_listener_in_this_namespace_is_seen() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert tcp_listening(os.getpid()) is True


def test_an_unreadable_namespace_is_unknown() -> None:
    assert tcp_listening(2**22 + 12345) is None  # above pid_max's default: no such process


@pytest.mark.docker
def test_a_container_is_listening_only_once_its_server_is() -> None:
    """A container on a user network has the engine's DNS listening on 127.0.0.11: not a
    listener of the service. Its own server's socket is."""
    require_backend("docker")
    import docker

    client = docker.from_env()
    net = client.networks.create(f"gameday-readiness-test-{os.getpid()}")
    container = None
    try:
        container = client.containers.run(
            "testgen-copilot:latest",
            ["sh", "-c", "sleep 1.5; exec python -m http.server 8123"],
            detach=True, network=net.name,
        )
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        assert tcp_listening(pid) is False
        deadline = time.monotonic() + 30
        while tcp_listening(pid) is not True and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tcp_listening(pid) is True
        # The server answers by then (what the healthcheck exec then confirms).
        code = container.exec_run(
            ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8123/')"]
        ).exit_code
        assert code == 0
    finally:
        if container is not None:
            container.remove(force=True)
        net.remove()
        client.close()



class _Counted:
    """The part of a Testcontainers container the wait uses, counting its execs."""

    def __init__(self, container: Any) -> None:
        self.container, self.execs = container, 0

    def get_wrapped_container(self) -> Any:
        return self.container

    def exec(self, command: list[str]) -> Any:
        self.execs += 1
        return self.container.exec_run(command)


@pytest.mark.docker
def test_the_wait_execs_the_check_once_the_server_listens() -> None:
    """Before the server listens the check runs every 2 s (not every 0.25 s); once it
    listens, the next poll runs it and it passes."""
    require_backend("docker")
    import docker

    client = docker.from_env()
    container = None
    try:
        container = client.containers.run(
            "testgen-copilot:latest",
            ["sh", "-c", "sleep 3; exec python -m http.server 8123"],
            detach=True,
        )
        check = ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8123/')"]
        wait = ListenerGatedExecWait(check, local=True).with_poll_interval(0.25)
        target = _Counted(container)
        started = time.monotonic()
        wait.with_startup_timeout(60).wait_until_ready(target)
        elapsed = time.monotonic() - started
        assert elapsed >= 3.0
        # One at the start, one every 2 s while nothing listens, then the one that passes
        # (a 0.25 s poll would have run ~12 by 3 s).
        assert target.execs <= 2 + int(elapsed / 2.0) + 1, (target.execs, elapsed)
    finally:
        if container is not None:
            container.remove(force=True)
        client.close()
