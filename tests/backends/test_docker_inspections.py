"""The stack's container inspections are reused only until the engine reports a change
(inspections.py): a container killed through the engine (not by the stack) is seen dead
as soon as its event arrives, however long a reading may otherwise live; an exec, which
changes nothing in the inspect document, keeps the reading; and no reading outlives its
age bound."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.docker import labels as lbl
from harness.backends.docker.inspections import Inspections
from harness.backends.docker.proxies import StartEvents

from .support import require_backend

pytestmark = pytest.mark.docker
IMAGE = "testgen-copilot:latest"  # built by scripts/build-offline-images.sh


@pytest.fixture
def watched() -> Iterator[tuple[Any, str, Inspections]]:
    """A running container labelled as a stack's, and inspections fed by that stack's events
    (readings reused for up to a minute, so only an event can outdate one here)."""
    require_backend("docker")
    import docker

    client = docker.from_env()
    stack_id = f"{os.getpid()}-inspections-{secrets.token_hex(3)}"
    labels = lbl.stack_labels(stack_id, lbl.owner_label())
    inspections = Inspections(client.api, max_age=60.0)
    events = StartEvents(stack_id, lambda service, cid: None, inspections.on_event).start()
    container = client.containers.run(IMAGE, ["sleep", "120"], detach=True, labels=labels)
    try:
        yield client, container.id, inspections
    finally:
        events.close()
        container.remove(force=True)
        client.close()


def _running(attrs: dict[str, Any]) -> bool:
    return bool((attrs.get("State") or {}).get("Running"))


def test_a_reading_is_reused_until_an_engine_event_outdates_it(
    watched: tuple[Any, str, Inspections],
) -> None:
    client, cid, inspections = watched
    first = inspections.inspect(cid)
    assert _running(first)
    time.sleep(0.5)  # the container's own start event has arrived (it outdated nothing after)
    first = inspections.inspect(cid)
    assert inspections.inspect(cid) is first  # no change since: the same reading
    client.api.kill(cid)  # through the engine, behind the inspections' back
    deadline = time.monotonic() + 10
    while _running(inspections.inspect(cid)):
        assert time.monotonic() < deadline, "the kill's event never outdated the reading"
        time.sleep(0.02)
    assert not _running(client.api.inspect_container(cid))


def test_an_exec_outdates_nothing_and_a_change_by_the_stack_does(
    watched: tuple[Any, str, Inspections],
) -> None:
    client, cid, inspections = watched
    time.sleep(0.5)
    first = inspections.inspect(cid)
    assert client.containers.get(cid).exec_run(["true"]).exit_code == 0
    time.sleep(0.5)  # the exec's events have arrived
    assert inspections.inspect(cid) is first
    inspections.changed()  # what the stack says after it starts, stops, kills or removes
    assert inspections.inspect(cid) is not first


def test_no_reading_outlives_its_age_bound() -> None:
    require_backend("docker")
    import docker

    client = docker.from_env()
    container = client.containers.run(IMAGE, ["sleep", "60"], detach=True,
                                      labels=lbl.stack_labels(f"{os.getpid()}-age",
                                                              lbl.owner_label()))  # fmt: skip
    try:
        inspections = Inspections(client.api, max_age=0.2)
        first = inspections.inspect(container.id)
        assert inspections.inspect(container.id) is first
        time.sleep(0.3)
        assert inspections.inspect(container.id) is not first
    finally:
        container.remove(force=True)
        client.close()
