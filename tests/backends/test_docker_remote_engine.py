"""The docker backend on a remote engine (DOCKER_HOST=tcp://…, as CI's docker-in-docker):
addresses come from the engine, faults act on the engine's host, the operator's files come
back through the archive API, and nothing is left on the engine or here.

Needs DOCKER_HOST naming a remote engine that has the images (.ci/run starts one in a
network namespace: scripts/remote-engine.sh). Without one the tests are skipped with the
reason; GAMEDAY_REQUIRE_DOCKER=1 makes that a failure (the local-engine lane of
scripts/ci-docker.sh leaves this file out).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from harness.backends.base import Status
from harness.compose import ComposeFile
from harness.errors import StackError

from .support import COMPOSE, ROOT, require_backend

if TYPE_CHECKING:
    from harness.backends.docker import DockerStack

pytestmark = pytest.mark.docker


def require_remote_engine() -> None:
    from harness.backends.docker.location import locate

    require_backend("docker")
    if not locate().remote:
        reason = (f"no remote engine: DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r} "
                  "(scripts/remote-engine.sh start gives one)")
        if os.environ.get("GAMEDAY_REQUIRE_DOCKER") == "1":
            pytest.fail(f"remote engine required but {reason}")
        pytest.skip(f"remote engine NOT TESTED: {reason}")


@pytest.fixture(scope="module")
def stack() -> Iterator[DockerStack]:
    require_remote_engine()
    from harness.backends.docker import DockerStack

    live = DockerStack(ComposeFile(COMPOSE), env_example=ROOT / ".env.example")
    try:
        live.up()
        yield live
    finally:
        live.close()


def engine_rules(stack: DockerStack) -> list[str]:
    done = stack.site.host.run(["iptables", "-w", "20", "-S", "DOCKER-USER"])
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if stack.id in line]


def test_ports_are_reached_at_the_engines_address_not_on_this_machine(stack: DockerStack) -> None:
    host, port = stack.published(8000)
    assert host == stack.site.location.host and host != "127.0.0.1"
    assert httpx.get(f"http://{host}:{port}/health", timeout=5).status_code == 200
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # nothing of the stack listens on this machine


def test_the_egress_rule_is_on_the_engines_host(stack: DockerStack) -> None:
    assert len(engine_rules(stack)) == 1
    here = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True)
    assert stack.id not in here.stdout
    # The containers reach nothing beyond the engine's host; unknown names fail at once.
    t = time.monotonic()
    done = stack.exec("testgen", ["getent", "hosts", "api.openai.com"])
    assert done.exit_code == 2 and time.monotonic() - t < 3, done


def test_a_crash_on_the_engines_host_is_restarted_by_the_engine(stack: DockerStack) -> None:
    before = stack.containers()["redis"].restart_count
    pid = stack.crash("redis", signal.SIGKILL)
    assert pid > 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = stack.containers()["redis"]
        if state.restart_count > before and state.status == Status.RUNNING:
            break
        time.sleep(0.2)
    assert state.restart_count > before and state.status == Status.RUNNING, state
    assert stack.owns_pid(state.pid)
    assert not stack.owns_pid(1)


def test_the_operators_log_file_is_read_back_from_the_engine(stack: DockerStack) -> None:
    path = stack.host_path("/var/log/testgen/app.log")
    assert isinstance(path, Path) and path.is_file()
    assert "ready to serve" in path.read_text()


def test_the_port_squatter_holds_the_port_on_the_engines_host(stack: DockerStack) -> None:
    """The squatter takes the published port where the engine publishes it; `fuser -k`'s
    view (port_holders, signal_host_pid) finds and ends it there."""
    from harness.faults.port_conflict import PortConflict

    fault = PortConflict(hold_s=120)
    host, port = stack.published(8000)
    try:
        fault.inject(stack)
        assert fault.confirm(stack) is not None, stack.containers()["testgen"]
        answer = httpx.get(f"http://{host}:{port}/health", timeout=5)
        assert answer.status_code == 404  # the squatter answers, not the API
        holders = stack.port_holders(port)
        assert holders and all(stack.owns_pid(pid) for pid in holders), holders
        for pid in holders:
            stack.signal_host_pid(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while fault.still_in_effect(stack) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fault.still_in_effect(stack) is None
    finally:
        fault.cleanup(stack)
    stack.start("testgen")
    assert stack.wait_healthy("testgen", 60)
    assert httpx.get(f"http://{host}:{port}/health", timeout=5).status_code == 200


def test_closing_leaves_nothing_on_the_engine_or_here() -> None:
    require_remote_engine()
    import docker

    from harness.backends.docker import DockerStack, leftovers

    live = DockerStack(ComposeFile(COMPOSE), env_example=ROOT / ".env.example")
    try:
        live.up()
        assert engine_rules(live)
    finally:
        live.close()
    client = docker.from_env()
    try:
        left = [item for item in leftovers.find(client, None) if live.id in item]
    finally:
        client.close()
    assert left == []
    assert not live.dir.exists()


def test_what_cannot_work_remotely_fails_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind mount of a path of this machine: one line naming it, nothing created."""
    require_remote_engine()
    import dataclasses

    import docker

    from harness.backends.docker import DockerStack
    from harness.backends.docker.labels import stack_filter

    live = DockerStack(ComposeFile(COMPOSE), env_example=ROOT / ".env.example")
    try:
        configs = live.resolve_config()
        testgen = configs["testgen"]
        configs["testgen"] = dataclasses.replace(
            testgen, volumes=(*testgen.volumes, f"{tmp_path}:/srv/operator")
        )
        monkeypatch.setattr(live, "resolve_config", lambda *a, **k: configs)
        with pytest.raises(StackError) as failed:
            live.up()
        message = str(failed.value)
        assert "\n" not in message and f"bind mount {tmp_path}:/srv/operator" in message, message
        client = docker.from_env()
        try:
            assert client.api.containers(all=True, filters=stack_filter(live.id)) == []
        finally:
            client.close()
    finally:
        live.close()
