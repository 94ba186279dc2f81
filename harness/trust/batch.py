"""Gamedays for `mutate` and `repeat`, on the one executor (`harness/suite/execute.py`):
each batch is planned as executor jobs, run concurrently longest first in forked children,
and handed back by job key. A signal ends the batch; what finished is kept and the caller
is told which signal it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.compose import ComposeFile
from harness.result import GamedayResult, Verdict
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.suite.baseline import expectation
from harness.suite.execute import Job, estimated_duration, execute, longest_first, result_key

Progress = Callable[[GamedayResult], None]


def job(runbook: Runbook, scenario: Scenario, expected_from: str | None = None) -> Job:
    """One gameday as the executor runs it; `expected_from` is the runbook path whose
    baseline says what to expect (a mutant is judged against its original, not a baseline)."""
    exp = expectation(expected_from or runbook.path, scenario.id, scenario.expected)
    return Job(runbook, scenario, exp, estimated_duration(scenario, exp))


def renamed(runbook: Runbook, tag: str) -> Runbook:
    """The runbook under a path of its own (`<stem>~<tag>.md`), so that its gamedays have
    keys of their own in a batch that also runs the original."""
    path = Path(runbook.path)
    return replace(runbook, path=str(path.with_name(f"{path.stem}~{tag}{path.suffix}")))


@dataclass
class Batch:
    """What a batch gave: results by `Job.key`, and the signal that cut it short."""

    results: dict[str, GamedayResult] = field(default_factory=dict)
    interrupted_by: int | None = None


class _Events:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def started(self, key: str, label: str) -> None: ...

    def phase(self, key: str, phase: str) -> None: ...

    def finished(self, result: GamedayResult, expected: str | None) -> None:
        if self.progress is not None:
            self.progress(result)

    def close(self, results: list[GamedayResult]) -> None: ...


def run_batch(
    jobs: Sequence[Job],
    backend: str,
    compose: ComposeFile,
    *,
    concurrency: int | None = None,
    previous: Mapping[str, float] | None = None,
    progress: Progress | None = None,
    retry_aborted: int = 0,
) -> Batch:
    """Run every job on the executor, longest first (by `previous` durations where known).
    `retry_aborted`: how many more times a gameday that ABORTED (the stack never came up or
    never held steady state, the fault never took: nothing of the runbook was tested) runs
    again; the last attempt's result stands."""
    batch = Batch()
    pending = list(jobs)
    for _ in range(1 + retry_aborted):
        if not pending:
            break
        ordered = longest_first(pending, previous)
        execution = execute(
            ordered, backend=backend, compose=compose, concurrency=concurrency,
            events=_Events(progress),
        )  # fmt: skip
        for result in execution.results:
            batch.results[result_key(result)] = result
        if execution.interrupted_by is not None:
            batch.interrupted_by = execution.interrupted_by
            break
        pending = [j for j in pending if _aborted(batch.results.get(j.key))]
    return batch


def _aborted(result: GamedayResult | None) -> bool:
    return result is None or result.verdict == Verdict.ABORTED
