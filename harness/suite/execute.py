"""The executor: plans, schedules and runs gamedays; `gameday run`, `repeat` and `mutate` use it.

    plan(runbooks, ids) ─▶ [Job] longest first        (runbook × scenario, expectation, estimate)
        │  shard(jobs, i, n): a duration-balanced slice, the same on every runner
        ▼
    execute(jobs, backend=, compose=, concurrency=, events=, results_path=)
        │  each gameday in a child forked from this (pre-imported) process, N at a time,
        │  longest first, a new one started only while memory allows (CPU: N ≤ 4 per core)
        │  events ─▶ board.started / phase / finished   (one pipe per child, one loop here)
        │  results.json rewritten whole (temp + rename) as each gameday ends
        │  SIGINT / SIGTERM / SIGHUP ─▶ forwarded to every child, which unwinds its stack;
        │  what finished stays in results.json ("interrupted"); 128 + signal
        ▼
    confirmation: each result decided by a small margin re-runs alone, and the two merge
        ▼
    Execution(results, interrupted_by)

Why forked children and not threads or pytest-xdist: a gameday waits on processes and HTTP,
but its pollers, load and bridge are Python threads that would share one GIL across every
gameday of a run; a fork of a parent that has imported the harness and parsed the runbooks,
catalog and compose file costs neither an interpreter start nor a re-parse, runs on its own
GIL, and unwinds on a signal exactly as a single gameday does (docs/performance.md has the
figures). The parent's loop is single-threaded, so forking from it is safe.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.compose import ComposeFile
from harness.result import GamedayResult
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.suite.baseline import Expectation, expectation

if TYPE_CHECKING:
    from harness.reports.json_results import RunInfo
    from harness.suite.worker import Scheduler

# A local stack at steady state (~230 MB RSS) plus the child that runs its gameday.
STACK_MEMORY = 500 << 20
PER_CORE = 4  # a gameday keeps ~0.4 of a core busy (its stack, the load, the steps' processes)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Job:
    """One gameday to run: a scenario against a runbook, and what the suite expects of it."""

    runbook: Runbook
    scenario: Scenario
    expected: Expectation
    estimate_s: float  # how long it is expected to take (the order and the shards follow it)

    @property
    def key(self) -> str:
        """`<scenario>--<runbook stem>`: unique in a run, the same on every runner."""
        return f"{self.scenario.id}--{Path(self.runbook.path).stem}"

    @property
    def label(self) -> str:
        return f"{Path(self.runbook.path).name}  {self.scenario.id}"


class Events(Protocol):
    """What the executor tells as it goes (harness/reports/board.py's StatusBoard)."""

    def started(self, key: str, label: str) -> None: ...
    def phase(self, key: str, phase: str) -> None: ...
    def finished(self, result: GamedayResult, expected: str | None) -> None: ...
    def close(self, results: list[GamedayResult]) -> None: ...


@dataclass
class Execution:
    """What a run gave: every finished result in plan order, and the signal that cut it short."""

    results: list[GamedayResult] = field(default_factory=list)
    interrupted_by: int | None = None
    expectations: dict[str, Expectation] = field(default_factory=dict)  # by Job.key
    write_failure: str | None = None  # results.json could not be written: the one line why
    info: RunInfo | None = None  # the run record as last written (what every report renders)

    @property
    def unexpected(self) -> list[GamedayResult]:
        """Results whose verdict is not the one expected (what makes the run exit 1)."""
        return [r for r in self.results if self.mismatch(r) is not None]

    def mismatch(self, result: GamedayResult) -> str | None:
        exp = self.expectations.get(result_key(result))
        return exp.mismatch(result) if exp else None

    @property
    def exit_status(self) -> int:
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        return 1 if self.unexpected else 0


def expectation_record(exp: Expectation) -> dict[str, str | None]:
    """An expectation as results.json keeps it (RunInfo.expected)."""
    return {"verdict": exp.verdict, "resolution": exp.resolution, "source": exp.source}


def result_key(result: GamedayResult) -> str:
    return f"{result.scenario}--{Path(result.runbook).stem}"


# -- plan --------------------------------------------------------------------------------

# Without history, a gameday's length follows from its windows and the verdict the runbook's
# baseline expects (measured on 2 cores: up to injection ~5 s, a detected fault ~3 s, a
# recovery ~2 s plus its hold, a failing verify window that ends early ~8 s, two verify
# windows around a lift ~10 s).
SETUP_S, DETECTED_S, RECOVERY_S, FAILED_VERIFY_S, LIFTED_S = 5.0, 3.0, 2.0, 8.0, 10.0


def estimated_duration(scenario: Scenario, expected: Expectation | None) -> float:
    """From the windows and the expected verdict (an undetected incident waits its whole
    detection window, then runs its resolution). A pure function of the checkout, so every
    shard runner computes the same plan."""
    if expected is None:
        return scenario.detect_window_s + scenario.verify_window_s + scenario.hold_s
    undetected = expected.verdict == "undetected"
    verify_verdict = (expected.resolution or "recovered") if undetected else expected.verdict
    verify = {
        "recovered": RECOVERY_S + scenario.hold_s,
        "recovered-after-lift": LIFTED_S,
    }.get(verify_verdict, min(scenario.verify_window_s, FAILED_VERIFY_S))
    detect = scenario.detect_window_s if undetected else DETECTED_S
    return SETUP_S + detect + verify


def plan(
    runbooks: Sequence[Runbook],
    scenario_ids: Sequence[str] = (),
    *,
    scenarios: Mapping[str, Mapping[str, Scenario]] | None = None,
    previous: Mapping[str, float] | None = None,
) -> list[Job]:
    """Runbook × scenario, longest first. `scenarios` maps a runbook path to its catalog
    (default: each runbook's own, `catalog.for_runbook`); `scenario_ids` selects (all when
    empty; an unknown id is BadInput). `previous` durations by Job.key, where known, order
    the run better than the estimate (never the shards: those must agree across runners)."""
    from harness.suite import catalog

    known = catalog.for_runbooks([r.path for r in runbooks]) if scenarios is None else {
        sid: sc for per in scenarios.values() for sid, sc in per.items()
    }
    wanted = catalog.select(list(scenario_ids), known)
    jobs = []
    for runbook in runbooks:
        own = catalog.for_runbook(runbook.path) if scenarios is None else scenarios[runbook.path]
        for sid in wanted:
            scenario = own.get(sid)
            if scenario is None:
                continue
            catalog.check_sections(runbook, [scenario])
            exp = expectation(runbook.path, sid, scenario.expected)
            jobs.append(Job(runbook, scenario, exp, estimated_duration(scenario, exp)))
    return longest_first(jobs, previous)


def longest_first(jobs: Iterable[Job], previous: Mapping[str, float] | None = None) -> list[Job]:
    """Sorted by the last run's duration where known, else the estimate; ties keep the
    order given (runbooks as named, scenarios as the catalog has them)."""
    took = previous or {}
    return sorted(jobs, key=lambda j: -took.get(j.key, j.estimate_s))


def shard(jobs: Sequence[Job], index: int, count: int) -> list[Job]:
    """Shard `index` (1-based) of `count`: each job, longest first, goes to the shard with
    the least estimated time so far (ties to the lowest shard). Only the estimates and keys
    decide, so every runner of the same checkout computes the same split."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}")
    loads = [0.0] * count
    mine = []
    for job in sorted(jobs, key=lambda j: (-j.estimate_s, j.key)):
        target = min(range(count), key=lambda k: (loads[k], k))
        loads[target] += job.estimate_s
        if target == index - 1:
            mine.append(job)
    return [j for j in jobs if j in mine]


def default_concurrency(jobs: int) -> int:
    """Gamedays at once: four per core (the CPU budget; beyond it the run is no faster),
    bounded by free memory (STACK_MEMORY a gameday) and the number of gamedays."""
    import psutil

    cores = os.cpu_count() or 1
    by_memory = int(psutil.virtual_memory().available // STACK_MEMORY)
    return max(1, min(PER_CORE * cores, by_memory, jobs))


def previous_durations(results_json: Path) -> dict[str, float]:
    """Each gameday's duration in an earlier results.json, by Job.key ({} if unusable)."""
    import json

    try:
        data = json.loads(results_json.read_text(encoding="utf-8"))
        return {
            f"{r['scenario']}--{Path(str(r['runbook'])).stem}": float(r["duration_s"])
            for r in data.get("results", [])
            if r.get("duration_s")
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


# -- execute -------------------------------------------------------------------------------


def execute(
    jobs: Sequence[Job],
    *,
    backend: str,
    compose: ComposeFile,
    concurrency: int | None = None,
    events: Events | None = None,
    results_path: Path | None = None,
    runbooks: Sequence[str] = (),
    confirm: bool = True,
    exitfirst: bool = False,
    shard_label: str = "",
    drift: dict[str, Any] | None = None,
) -> Execution:
    """Run `jobs` (in the order given: `plan` puts the longest first) `concurrency` at a time
    (default: `default_concurrency`), each in a forked child on a stack of its own. Returns
    every finished result in the order of `jobs`. With `results_path`, results.json is
    rewritten whole as each gameday ends. A signal stops the run: children unwind, and the
    Execution says which signal (the caller exits 128 + it). `exitfirst`: no new gameday
    starts after the first unexpected verdict."""
    from harness.run.margin import merge_confirmation, needs_confirmation
    from harness.suite.worker import Scheduler

    execution = Execution(expectations={j.key: j.expected for j in jobs})
    board = events or _NullEvents()
    names = list(runbooks) or list(dict.fromkeys(j.runbook.path for j in jobs))
    record = _Recorder(execution, results_path, backend, names, shard_label)
    record.expected = {j.key: expectation_record(j.expected) for j in jobs}
    record.drift = drift
    record.stand_ins = [asdict(s) for s in compose.stand_ins()]
    n = concurrency or default_concurrency(len(jobs))
    by_key = {j.key: j for j in jobs}
    with _Signals() as signals:
        sched = Scheduler(backend, compose, board, signals, memory=STACK_MEMORY)
        try:
            stop = _first_unexpected(execution, exitfirst)
            for result in sched.run(list(jobs), n, stop_after=stop):
                record.add(result)
            execution.interrupted_by = signals.received
            if confirm and signals.received is None:
                _confirm(execution, by_key, sched, record, needs_confirmation, merge_confirmation)
                execution.interrupted_by = signals.received
        finally:
            sched.close()
    order = {j.key: i for i, j in enumerate(jobs)}
    execution.results.sort(key=lambda r: order.get(result_key(r), len(order)))
    record.write()
    execution.write_failure = record.failure
    board.close(execution.results)
    return execution


def _first_unexpected(execution: Execution, exitfirst: bool) -> Callable[[GamedayResult], bool]:
    return lambda result: exitfirst and execution.mismatch(result) is not None


def _confirm(
    execution: Execution,
    by_key: Mapping[str, Job],
    sched: Scheduler,
    record: _Recorder,
    needs: Callable[[GamedayResult], str | None],
    merge: Callable[[GamedayResult, GamedayResult], GamedayResult],
) -> None:
    """Each result decided by a small margin (`harness/run/margin.py` says which) runs again,
    alone (no other gameday competing for the cores), and the two merge by the same rules."""
    for i, result in enumerate(list(execution.results)):
        why = needs(result)
        job = by_key.get(result_key(result))
        if why is None or job is None:
            continue
        again = next(iter(sched.run([job], 1, confirming=why)), None)
        if again is None:  # interrupted: the first result stands
            return
        execution.results[i] = merge(result, again)
        record.write()


class _Recorder:
    """results.json as the run goes: every finished gameday, written whole each time."""

    def __init__(
        self, execution: Execution, path: Path | None, backend: str, runbooks: list[str],
        shard: str = "",
    ) -> None:  # fmt: skip
        from harness.reports.json_results import RunInfo

        self.execution, self.path, self.backend, self.runbooks = execution, path, backend, runbooks
        self.shard = shard
        self.expected: dict[str, dict[str, str | None]] = {}
        self.started_at = RunInfo.now().started_at
        self.failure: str | None = None  # the one line saying why results.json is not written
        self.drift: dict[str, Any] | None = None
        self.stand_ins: list[dict[str, Any]] = []

    def add(self, result: GamedayResult) -> None:
        self.execution.results.append(result)
        self.write()

    def write(self) -> None:
        from harness.errors import OutputError
        from harness.reports.json_results import RunInfo, write_run

        results = self.execution.results
        info = RunInfo.now(
            results,
            runbooks=self.runbooks,
            backend=self.backend,
            started_at=self.started_at,
            interrupted=self.execution.interrupted_by is not None,
        )
        info.expected, info.shard = self.expected, self.shard
        info.drift, info.stand_ins = self.drift, self.stand_ins
        self.execution.info = info
        if self.path is None:
            return
        try:
            write_run(self.path, results, info)
            self.failure = None
        except OutputError as exc:
            self.failure = str(exc)


class _Signals:
    """SIGINT, SIGTERM and SIGHUP, while the executor runs, stop it: the first one is
    recorded (and wakes the scheduler's loop through its wakeup fd), which forwards it to the
    children and waits for them to unwind. Nothing is raised here: a second Ctrl-C must not
    cut a stack's teardown short, nor land in the middle of writing results.json."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.received = self.received or signum

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


class _NullEvents:
    def started(self, key: str, label: str) -> None: ...
    def phase(self, key: str, phase: str) -> None: ...
    def finished(self, result: GamedayResult, expected: str | None) -> None: ...
    def close(self, results: list[GamedayResult]) -> None: ...


def now() -> float:
    return time.monotonic()
