"""`docker-compose down` stops as Compose does: a service only after every service that
depends on it, the services of one level at once (not one after another)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.bridge.tools.compose_cli import down, stop_groups
from harness.compose import ComposeFile

COMPOSE = ComposeFile(Path(__file__).resolve().parents[2] / "docker-compose.chaos.yml")


class _Recorder:
    """A stack whose stop takes 0.3 s; records when each stop began and ended."""

    compose = COMPOSE

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.removed: list[str] = []
        self._lock = threading.Lock()

    def containers(self) -> dict[str, object]:
        from types import SimpleNamespace

        return {s: SimpleNamespace(name=f"c-{s}") for s in COMPOSE.service_names}

    def stop(self, service: str, timeout: float = 10.0) -> None:
        began = time.monotonic()
        time.sleep(0.3)
        with self._lock:
            self.spans[service] = (began, time.monotonic())

    def remove(self, service: str) -> None:
        with self._lock:
            self.removed.append(service)

    def remove_volumes(self) -> list[str]:
        return []


def test_dependents_stop_first_and_a_level_stops_at_once():
    stack = _Recorder()
    answer = down(stack, [], None)  # type: ignore[arg-type]
    assert answer.rc == 0
    assert sorted(stack.removed) == sorted(COMPOSE.service_names)
    deps = COMPOSE.spec("testgen")["depends_on"]
    assert deps  # the chaos layer's API depends on the data stores, the LLM and the proxy
    for dep in deps:  # each dependency only once its dependent is stopped
        assert stack.spans[dep][0] >= stack.spans["testgen"][1]
    first = min(stack.spans[d][0] for d in deps)
    assert all(stack.spans[d][0] - first < 0.25 for d in deps)  # together, not in a row
    lines = [line.split()[1] for line in answer.stderr.splitlines() if "Stopped" in line]
    order = list(reversed(COMPOSE.startup_order(list(COMPOSE.service_names))))
    assert lines == [f"c-{s}" for s in order]  # the output keeps Compose's order


def test_groups_follow_depends_on_whatever_its_form():
    class S:
        compose = COMPOSE

    order = list(reversed(COMPOSE.startup_order(list(COMPOSE.service_names))))
    groups = stop_groups(S, order)  # type: ignore[arg-type]
    assert sorted(sum(groups, [])) == sorted(order)
    level = {s: i for i, g in enumerate(groups) for s in g}
    for service in order:
        for dep in COMPOSE.spec(service).get("depends_on", []) or []:
            assert level[dep] > level[service]
