"""An OOM-kill loop that stopped by itself: the cache-bloat injector says so, and only then.

The rule is about what the engine reports of the API's container (`docker inspect`: status,
restart count, OOMKilled), so the states are built by hand here; the gameday that asks it
and the verdict it leads to are in tests/gameday/test_verdict_rules.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.backends.base import ContainerState, Status
from harness.compose import ServiceConfig
from harness.faults.cache_bloat import CacheBloat

CONFIG = ServiceConfig(
    name="testgen", image="testgen-copilot:latest", container_name="testgen-copilot",
    command=(), environment=(), ports=(), volumes=(), depends_on=(), restart="unless-stopped",
    profiles=(), mem_limit_bytes=256 << 20, healthcheck=None,
)  # fmt: skip
KILLED = ContainerState("testgen", "testgen-copilot", CONFIG, Status.RESTARTING, 137, True, 1)


class Inspected:
    """The one thing the rule reads of a stack: its containers as the engine reports them."""

    def __init__(self, testgen: ContainerState) -> None:
        self.testgen = testgen

    def containers(self) -> dict[str, ContainerState]:
        return {"testgen": self.testgen}


def confirmed_fault() -> tuple[CacheBloat, Inspected]:
    fault, stack = CacheBloat(), Inspected(KILLED)
    assert fault.confirm(stack) is not None  # type: ignore[arg-type]
    return fault, stack


def stopped(fault: CacheBloat, stack: Any, **now: Any) -> str | None:
    stack.testgen = replace(KILLED, **now)
    return fault.symptom_stopped(stack)


def test_running_with_no_kill_since_the_confirmation_is_a_symptom_that_stopped() -> None:
    fault, stack = confirmed_fault()
    evidence = stopped(fault, stack, status=Status.RUNNING, oom_killed=False)
    assert evidence is not None and "restarts still 1" in evidence, evidence


def test_another_kill_or_a_container_still_down_is_the_incident_going_on() -> None:
    fault, stack = confirmed_fault()
    assert stopped(fault, stack, status=Status.RUNNING, oom_killed=False, restart_count=4) is None
    assert stopped(fault, stack, status=Status.RESTARTING, oom_killed=True) is None
    assert stopped(fault, stack, status=Status.EXITED, oom_killed=False) is None


def test_a_fault_never_confirmed_by_a_kill_never_says_its_symptom_stopped() -> None:
    fault, stack = CacheBloat(), Inspected(replace(KILLED, status=Status.RUNNING, oom_killed=False))
    assert fault.symptom_stopped(stack) is None  # type: ignore[arg-type]
