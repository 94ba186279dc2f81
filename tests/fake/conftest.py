"""A live fake stack for the shared Stack contract suite (tests/backends), with the command
bridge attached as in a gameday."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.backends.base import Stack
from harness.bridge.server import BridgeServer
from tests.backends.support import new_stack

# Contract tests the fake cannot honour, each with the reason (the rest run unchanged).
FAKE_SKIPS = {
    "test_a_killed_harness_process_leaves_nothing_behind":
        "the fake's servers are threads of the test process: they die with it by construction",
}


@pytest.fixture(scope="module")
def backend() -> str:
    return "fake"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    live = new_stack("fake")
    bridge = None
    try:
        live.up()
        bridge = BridgeServer(live, live.info.workdir.parent / "run" / "bridge")
        yield live
    finally:
        if bridge is not None:
            bridge.close()
        live.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name != "test_stack_contract_on_fake.py":
            continue
        reason = FAKE_SKIPS.get(getattr(item, "originalname", item.name))
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"fake backend: {reason}"))
