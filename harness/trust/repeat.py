"""Repeatability: the same gameday, run N times, must give the same verdict every time.

    for round in 1..N:                       (rounds, not N runs in a row: a scenario's runs
        for runbook, scenario in selection:   are spread over the whole session, so drift and
            Gameday(...).run() ─▶ verdict     interference between scenarios show up too)
    ─▶ per (runbook, scenario): verdict counts, TTR spread; any scenario with more than one
       verdict is *unstable* (exit status 1)

docs/design.md §7: "the same suite run repeatedly gives the same verdicts". This is the check,
with the Gameday runner directly (no pytest), on any backend. `-j N` runs each round's
gamedays N at a time, each in a process and on a stack of its own, longest first (the
previous round's durations, else the scenario's windows): verdicts under concurrency must be
the ones a serial run gives.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harness.errors import BadInput, HarnessError
from harness.run.gameday import Gameday, StackFactory
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.suite.baseline import expectation

SCHEMA = "gameday-repeat/1"


@dataclass
class Series:
    """Every run of one scenario on one runbook."""

    runbook: str
    scenario: str
    expected: str  # the baseline's verdict for this runbook, else the scenario's expectation
    verdicts: list[str] = field(default_factory=list)
    ttr_s: list[float | None] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.verdicts)

    @property
    def stable(self) -> bool:
        return len(self.counts) <= 1

    @property
    def as_expected(self) -> bool:
        return all(v == self.expected for v in self.verdicts)

    def ttr_spread(self) -> str:
        values = [t for t in self.ttr_s if t is not None]
        if not values:
            return "-"
        if len(values) == 1:
            return f"{values[0]:.2f}s"
        return (
            f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}s (min/median/max)"
        )


@dataclass
class RepeatReport:
    rounds: int
    backend: str
    started_at: str
    series: list[Series] = field(default_factory=list)
    rounds_done: int = 0
    duration_s: float = 0.0

    @property
    def unstable(self) -> list[Series]:
        return [s for s in self.series if not s.stable]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "rounds": self.rounds,
            "rounds_done": self.rounds_done,
            "backend": self.backend,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
            "unstable": [f"{Path(s.runbook).stem}/{s.scenario}" for s in self.unstable],
            "series": [{**asdict(s), "counts": dict(s.counts)} for s in self.series],
        }


def expected_verdict(runbook: Runbook, scenario: Scenario) -> str:
    """What the suite expects: the runbook's baseline entry, else the scenario's default."""
    return expectation(runbook.path, scenario.id, scenario.expected).verdict


Outcome = tuple[str, float | None, str, float]  # verdict, TTR, reason, duration


def _outcome(runbook: Runbook, scenario: Scenario, stack_factory: StackFactory) -> Outcome:
    try:
        result = Gameday(runbook, scenario, stack_factory).run()
    except HarnessError as exc:  # the stack failed: an outcome too, and not a stable one
        return "error", None, f"{type(exc).__name__}: {exc}", 0.0
    return result.verdict.value, result.ttr_s, result.reason, result.duration_s


def _outcome_in_worker(runbook_path: str, scenario_id: str, backend: str, compose: str) -> Outcome:
    """One gameday in a worker process (`-j N`): everything rebuilt from names, so nothing
    but strings crosses the process boundary."""
    from harness.backends import make_stack
    from harness.compose import ComposeFile
    from harness.runbook.parse import parse_runbook
    from harness.suite import catalog

    runbook = parse_runbook(runbook_path)
    scenario = catalog.for_runbook(runbook_path).get(scenario_id) or catalog.SCENARIOS[scenario_id]
    compose_file = ComposeFile(compose)

    def factory(env: dict[str, str]) -> Any:
        return make_stack(
            backend, compose_file, env, env_example=compose_file.path.parent / ".env.example"
        )

    return _outcome(runbook, scenario, factory)


def _estimate(series: Series, scenario: Scenario) -> float:
    """The last run's duration, else the scenario's windows: longest first."""
    if series.durations_s and series.durations_s[-1] > 0:
        return series.durations_s[-1]
    return scenario.detect_window_s + scenario.verify_window_s + scenario.hold_s


def repeat(
    runbooks: Sequence[Runbook],
    scenarios: Sequence[Scenario],
    rounds: int,
    stack_factory: StackFactory,
    backend: str,
    progress: Callable[[str], None] = print,
    checkpoint: Callable[[RepeatReport], None] | None = None,
    jobs: int = 1,
    compose_path: str | None = None,
) -> RepeatReport:
    """N rounds; with jobs > 1 (and compose_path) each round's gamedays run `jobs` at a time
    in worker processes, longest first, and are recorded in the same order as serially."""
    started = time.monotonic()
    report = RepeatReport(rounds, backend, datetime.now(UTC).isoformat(timespec="seconds"))
    pairs = [(rb, sc) for rb in runbooks for sc in scenarios]
    report.series = [Series(rb.path, sc.id, expected_verdict(rb, sc)) for rb, sc in pairs]
    pool = None
    if jobs > 1 and compose_path is not None:
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        for n in range(1, rounds + 1):

            def record(i: int, outcome: Outcome, n: int = n) -> None:
                (runbook, scenario), series = pairs[i], report.series[i]
                verdict, ttr, reason, took = outcome
                series.verdicts.append(verdict)
                series.ttr_s.append(ttr)
                series.reasons.append(reason)
                series.durations_s.append(took)
                progress(
                    f"round {n}/{rounds}  {Path(runbook.path).stem:<28} {scenario.id:<28} "
                    f"{verdict:<14} {took:5.1f}s"
                )

            if pool is None:
                for i, (runbook, scenario) in enumerate(pairs):
                    record(i, _outcome(runbook, scenario, stack_factory))
            else:
                assert compose_path is not None
                order = sorted(
                    range(len(pairs)), key=lambda i: -_estimate(report.series[i], pairs[i][1])
                )
                futures: dict[Future[Outcome], int] = {
                    pool.submit(
                        _outcome_in_worker, pairs[i][0].path, pairs[i][1].id, backend, compose_path
                    ): i
                    for i in order
                }
                done: dict[int, Outcome] = {}
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done[futures[future]] = future.result()
                for i in range(len(pairs)):  # series keep the serial order of runs
                    record(i, done[i])
            report.rounds_done = n
            report.duration_s = time.monotonic() - started
            if checkpoint:
                checkpoint(report)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return report


def table(report: RepeatReport) -> str:
    verdicts = sorted({v for s in report.series for v in s.verdicts})
    head = f"{'runbook':<28} {'scenario':<28} {'expected':<14} " + " ".join(
        f"{v:>13}" for v in verdicts
    )
    rows = [head + "  result"]
    for s in report.series:
        counts = s.counts
        cells = " ".join(f"{counts.get(v, 0):>13}" for v in verdicts)
        state = "stable" if s.stable else "DIFFERS"
        if s.stable and not s.as_expected:
            state += " (not the expected verdict)"
        rows.append(
            f"{Path(s.runbook).stem:<28} {s.scenario:<28} {s.expected:<14} {cells}  {state}"
        )
    return "\n".join(rows)


def to_markdown(report: RepeatReport, title: str = "Repeatability") -> str:
    n = report.rounds_done
    out = [
        f"# {title}",
        "",
        f"`gameday repeat {report.rounds}` on the {report.backend} backend, started "
        f"{report.started_at}: {n} round(s) of {len(report.series)} (runbook, scenario) "
        f"pairs, {report.duration_s / 60:.0f} min"
        + ("" if n == report.rounds else f" (**interrupted after {n} of {report.rounds}**)")
        + ".",
        "",
        (
            "**Every scenario gave the same verdict in every run.**"
            if not report.unstable
            else f"**{len(report.unstable)} scenario(s) gave different verdicts:** "
            + ", ".join(f"{Path(s.runbook).stem}/{s.scenario}" for s in report.unstable)
        ),
        "",
        "| runbook | scenario | expected | verdicts | TTR | result |",
        "|---|---|---|---|---|---|",
    ]
    for s in report.series:
        counts = ", ".join(f"{v} ×{c}" for v, c in sorted(s.counts.items()))
        state = "stable" if s.stable else "**differs**"
        if s.stable and not s.as_expected:
            state += " (not the expected verdict)"
        out.append(
            f"| {Path(s.runbook).stem} | {s.scenario} | {s.expected} | {counts} | "
            f"{s.ttr_spread()} | {state} |"
        )
    for s in report.unstable:
        out += ["", f"## {Path(s.runbook).stem} / {s.scenario}", ""]
        for i, (v, why) in enumerate(zip(s.verdicts, s.reasons, strict=True), 1):
            out.append(f"- run {i}: {v}" + (f": {why[:300]}" if why else ""))
    return "\n".join(out) + "\n"


def main(args: Any, out: TextIO = sys.stdout) -> int:
    """`gameday repeat N`: validate, run N rounds, print the table; 1 if any verdict differs."""
    from harness.options import report_writer, scenarios_from, stack_factory
    from harness.runbook.parse import parse_runbook
    from harness.suite import catalog

    if args.n < 1:
        raise BadInput(f"repeat: N must be at least 1, not {args.n}")
    scenarios = scenarios_from(args.scenario, catalog.SCENARIOS)
    root = Path(__file__).resolve().parents[2]
    paths = [Path(p) for p in args.runbook] or sorted((root / "runbooks").glob("*.md"))
    for p in paths:
        if not p.exists():
            raise BadInput(f"{p}: no such runbook")
    runbooks = [parse_runbook(p) for p in paths]
    for rb in runbooks:
        for sc in scenarios:
            try:
                rb.section(sc.section)
            except KeyError as exc:
                raise BadInput(f"{rb.path}: scenario {sc.id}: {exc.args[0]}") from None
    backend, compose, factory = stack_factory(args.backend, args.compose)
    checkpoint = report_writer(args, to_markdown)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    runs = args.n * len(runbooks) * len(scenarios)
    jobs = max(1, getattr(args, "jobs", 1) or 1)
    say(
        f"{args.n} round(s) × {len(runbooks)} runbook(s) × {len(scenarios)} scenario(s) = "
        f"{runs} gamedays, {jobs} at a time, estimated ~{runs * 10 / 60 / jobs:.0f} min "
        "(a gameday takes ~2-20 s)"
    )
    report = repeat(
        runbooks,
        scenarios,
        args.n,
        factory,
        backend,
        say,
        checkpoint,
        jobs=jobs,
        compose_path=str(compose.path.resolve()),
    )
    say("")
    say(table(report))
    if report.unstable:
        say(f"{len(report.unstable)} scenario(s) gave different verdicts across {args.n} runs")
        return 1
    say(f"every verdict was the same in all {args.n} runs")
    return 0
