"""The executor itself (fake backend): results in plan order, results.json rewritten as each
gameday ends, a result decided by a small margin re-run alone and merged, `-x`."""

from __future__ import annotations

from pathlib import Path

from trust.support import REPO

from harness.compose import ComposeFile
from harness.reports.json_results import read_run
from harness.runbook.parse import parse_runbook
from harness.suite.execute import execute, plan

FIXED = REPO / "runbooks" / "incident-response.fixed.md"
SHIPPED = REPO / "runbooks" / "incident-response.md"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self, key: str, label: str) -> None:
        self.events.append(("started", label))

    def phase(self, key: str, phase: str) -> None:
        self.events.append(("phase", phase))

    def finished(self, result: object, expected: str | None) -> None:
        self.events.append(("finished", str(expected)))

    def close(self, results: list[object]) -> None:
        self.events.append(("close", str(len(results))))


def test_a_result_decided_by_a_small_margin_runs_again_alone_and_both_are_kept(
    tmp_path, monkeypatch
):
    from harness.run import margin

    calls: list[str] = []

    def needs(result: object) -> str | None:
        calls.append("asked")
        return "a test's margin" if len(calls) == 1 else None

    monkeypatch.setattr(margin, "needs_confirmation", needs)
    jobs = plan([parse_runbook(FIXED)], ["service-down"])
    board = Recorder()
    done = execute(jobs, backend="fake", compose=ComposeFile(REPO / "docker-compose.chaos.yml"),
                   events=board, results_path=tmp_path / "results.json")  # fmt: skip
    [result] = done.results
    assert [m["run"] for m in result.measurements] == ["concurrent", "alone"]
    assert [e for e in board.events if e[0] == "started"][1][1].endswith(
        "(confirming: a test's margin)")
    assert done.exit_status == 0
    [written] = read_run(tmp_path).results
    assert len(written.measurements) == 2  # results.json holds the merged record
    assert board.events[-1] == ("close", "1")


def test_exitfirst_starts_no_gameday_after_the_first_unexpected_verdict(tmp_path):
    # The shipped runbook's high-error-rate is not-recovered; expect recovered instead.
    from dataclasses import replace

    jobs = plan([parse_runbook(SHIPPED)], ["high-error-rate", "service-down"])
    jobs = [replace(j, expected=replace(j.expected, verdict="recovered", resolution=None))
            if j.scenario.id == "high-error-rate" else j for j in jobs]  # fmt: skip
    jobs.sort(key=lambda j: j.scenario.id != "high-error-rate")  # it runs first
    done = execute(jobs, backend="fake", compose=ComposeFile(REPO / "docker-compose.chaos.yml"),
                   concurrency=1, exitfirst=True, results_path=tmp_path)  # fmt: skip
    assert [r.scenario for r in done.results] == ["high-error-rate"]
    assert done.exit_status == 1
    assert set(read_run(tmp_path).info.expected) == {j.key for j in jobs}
    assert Path(tmp_path / "results.json").is_file()


def test_a_slot_frees_at_the_result_and_the_run_ends_after_every_teardown(tmp_path, monkeypatch):
    """The next gameday starts while the last one's stack is still being torn down; the
    run returns only once every teardown is over (nothing is left running)."""
    import os
    import time

    from harness.backends.fake.stack import FakeStack

    original = FakeStack.close

    def slow_close(self: FakeStack) -> None:
        time.sleep(1.5)
        original(self)
        (tmp_path / f"closed-{os.getpid()}").write_text(str(time.time()))

    monkeypatch.setattr(FakeStack, "close", slow_close)
    started: list[float] = []

    class Board(Recorder):
        def started(self, key: str, label: str) -> None:
            started.append(time.time())

    jobs = plan([parse_runbook(FIXED)], ["service-down", "redis-down"])
    done = execute(jobs, backend="fake", compose=ComposeFile(REPO / "docker-compose.chaos.yml"),
                   concurrency=1, events=Board(), results_path=tmp_path / "out",
                   confirm=False)  # fmt: skip
    closed = sorted(float(p.read_text()) for p in tmp_path.glob("closed-*"))
    assert len(closed) == 2  # both teardowns ran to their end before execute returned
    assert len(started) == 2 and started[1] < closed[0]  # the second began during the first's
    assert [r.verdict.value for r in done.results] == ["recovered", "recovered"]
    assert all(r.duration_s < max(e.t for e in r.events) + 1.0 for r in done.results)
