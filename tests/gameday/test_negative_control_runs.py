"""The negative control runs each detection step twice on the healthy stack. Steps that
cannot change the operator's shell run side by side, each in a terminal of its own (as the
detection phase polls them); a set with a step that may (export, cd, source, an
assignment) runs one step after another in the operator's shell, as the runbook reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.bridge.shell import Outcome, may_change_shell
from harness.run.gameday import Gameday
from harness.runbook.model import Role, Step
from harness.runbook.parse import parse_runbook
from harness.suite import catalog

REPO = Path(__file__).resolve().parents[2]
FIXED = REPO / "runbooks" / "incident-response.fixed.md"


class _Shell:
    """Each run takes 0.2 s; records (command, isolated, start, end)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, bool, float, float]] = []
        self._lock = threading.Lock()

    def run(self, step: Step, timeout: float | None = None, isolated: bool = False) -> Outcome:
        began = time.monotonic()
        time.sleep(0.2)
        with self._lock:
            self.runs.append((step.command, isolated, began, time.monotonic()))
        return Outcome(0, "", "", 0.2)


def _gameday() -> Gameday:
    runbook = parse_runbook(FIXED)
    return Gameday(runbook, catalog.for_runbook(runbook.path)["high-memory-no-kill"],
                   lambda env: None)  # type: ignore[arg-type,return-value]  # fmt: skip


def _step(command: str, line: int) -> Step:
    return Step(command, "", line, Role.DETECTION, "s")


def test_steps_that_cannot_change_the_shell_run_side_by_side_in_their_own_terminals():
    shell = _Shell()
    steps = [_step("docker stats --no-stream", 1), _step("curl -f http://localhost:8000/h", 2),
             _step("redis-cli info memory | grep used_memory", 3)]  # fmt: skip
    runs = _gameday()._twice_each(shell, steps)  # type: ignore[arg-type]
    assert [len(r) for r in runs] == [3, 3, 3]
    assert len(shell.runs) == 6 and all(isolated for _, isolated, _, _ in shell.runs)
    first_ends = min(end for _, _, _, end in shell.runs)
    starts = sorted(start for _, _, start, _ in shell.runs)
    assert all(s < first_ends for s in starts[:3])  # the three steps began together
    for command in (s.command for s in steps):  # each step's own two runs: one, then the other
        mine = sorted((a, b) for c, _, a, b in shell.runs if c == command)
        assert mine[1][0] >= mine[0][1]


def test_a_step_that_may_change_the_shell_makes_the_set_run_in_order_in_the_operators_shell():
    shell = _Shell()
    steps = [_step("curl -f http://localhost:8000/h", 1), _step("export A=1", 2)]
    _gameday()._twice_each(shell, steps)  # type: ignore[arg-type]
    assert [c for c, _, _, _ in shell.runs] == [steps[0].command] * 2 + [steps[1].command] * 2
    assert not any(isolated for _, isolated, _, _ in shell.runs)
    spans = [(a, b) for _, _, a, b in shell.runs]
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


@pytest.mark.parametrize("command", [
    "export X=1", "cd /tmp && ls", "ls && cd /tmp", ". ./env.sh", "source x", "FOO=bar cmd",
    "x=$(date)", "if true; then export A=1; fi", "echo a; unset B", "(cd /x; ls)",
    "read -r line < f", "eval \"$(ssh-agent)\"",
])  # fmt: skip
def test_what_may_change_the_shell(command):
    assert may_change_shell(command)


@pytest.mark.parametrize("command", [
    "docker stats testgen-copilot", "grep -c \"a=b\" f", "docker-compose ps",
    "docker ps --filter name=testgen-copilot --filter status=running -q | grep -q .",
    "docker exec testgen-copilot pg_isready -h postgres -p 5432", "ls ./foo",
    "curl -H \"X: a=b\" http://x", "tail -100 /var/log/testgen/app.log | grep ERROR",
])  # fmt: skip
def test_what_cannot(command):
    assert not may_change_shell(command)


def test_every_detection_step_of_both_runbooks_is_classified_as_expected():
    """None of the shipped runbooks' detection steps changes the shell: their negative
    controls run side by side (a new runbook's `export` in detection would not)."""
    for path in (FIXED, REPO / "runbooks" / "incident-response.md"):
        runbook = parse_runbook(path)
        for section in runbook.sections:
            for step in section.steps:
                if step.role == Role.DETECTION and step.command:
                    assert not may_change_shell(step.command), (path.name, step.line)
