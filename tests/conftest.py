"""Shared fixtures for the harness's own tests: a real local stack, its bridge and shell."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.local import LocalStack
from harness.bridge.server import BridgeServer
from harness.bridge.shell import OperatorShell
from harness.compose import ComposeFile
from harness.redact import Redactor
from harness.run.gameday import operator_environment
from harness.runbook.parse import parse_runbook

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shipped_runbook():
    return parse_runbook(ROOT / "runbooks" / "incident-response.md")


class Operator:
    """A stack plus an on-call engineer's shell on it."""

    def __init__(self, stack: LocalStack, shell: OperatorShell) -> None:
        self.stack, self.shell = stack, shell

    def sh(self, command: str, timeout: float = 20.0):
        return self.shell.run_command(command, timeout)


@contextlib.contextmanager
def _operator_on_a_local_stack() -> Iterator[Operator]:
    env = operator_environment()
    stack = LocalStack(
        ComposeFile(ROOT / "docker-compose.chaos.yml"),
        shell_env=env,
    )
    bridge = None
    try:
        stack.up()
        bridge = BridgeServer(stack, stack.dir / "run" / "bridge")
        redactor = Redactor()
        redactor.add_env(env)
        yield Operator(stack, OperatorShell(stack, bridge, redactor, env))
    finally:
        if bridge:
            bridge.close()
        stack.close()


@pytest.fixture
def operator() -> Iterator[Operator]:
    with _operator_on_a_local_stack() as op:
        yield op


@pytest.fixture(scope="module")
def module_operator() -> Iterator[Operator]:
    """One stack for a module whose tests leave it as they found it."""
    with _operator_on_a_local_stack() as op:
        yield op


# A test is *live* when it starts the stack's real processes or containers: it uses one of
# these fixtures, runs on a local or docker `backend` parameter, is a gameday or needs docker,
# or its module says so (`pytestmark = pytest.mark.live`). `-m "not live"` runs the rest.
LIVE_FIXTURES = frozenset({"operator", "module_operator", "live"})
LIVE_BACKENDS = frozenset({"local", "docker"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            LIVE_FIXTURES & set(getattr(item, "fixturenames", ()))
            or params.get("backend") in LIVE_BACKENDS
            or item.get_closest_marker("gameday")
            or item.get_closest_marker("docker")
        ):
            item.add_marker(pytest.mark.live)
