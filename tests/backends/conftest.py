"""One live stack per backend for the shared Stack contract suite (see support.py for
how a backend that cannot run here is reported)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.backends.base import Stack
from harness.bridge.server import BridgeServer

from .support import BACKENDS, docker_skips, new_stack, require_backend


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker engine and the locally built images")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    require_backend(request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def stack(backend: str) -> Iterator[Stack]:
    """A running stack with the command bridge attached, as in a gameday (the local
    backend resolves service names inside `exec` through the bridge)."""
    live = new_stack(backend)
    bridge = None
    try:
        live.up()
        bridge = BridgeServer(live, live.info.workdir.parent / "run" / "bridge")
        yield live
    finally:
        if bridge is not None:
            bridge.close()
        live.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for problem in docker_skips:
        terminalreporter.write_line(f"WARNING: docker backend NOT TESTED: {problem}",
                                    yellow=True, bold=True)
