"""Repeatability: the same gameday, run N times, must give the same verdict every time.

    for round in 1..N:                       (rounds, not N runs in a row: a scenario's runs
        for runbook, scenario in selection:   are spread over the whole session, so drift and
            a gameday on the executor         interference between scenarios show up too)
    ─▶ per (runbook, scenario): verdict counts, TTR spread; any scenario with more than one
       verdict is *unstable* (exit status 1)

docs/design.md §7: "the same suite run repeatedly gives the same verdicts". This is the check,
on the executor that `gameday run` uses (no pytest), on any backend. `-j N` runs each
round's gamedays N at a time, each in a forked child on a stack of its own, longest first
(the previous round's durations, else the estimate): verdicts under concurrency must be the
ones a serial run gives.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harness.compose import ComposeFile
from harness.errors import BadInput
from harness.result import GamedayResult
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.trust.batch import job, run_batch

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
    interrupted_by: int | None = None  # the signal that ended the run early

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


def repeat(
    runbooks: Sequence[Runbook],
    scenarios: Sequence[Scenario],
    rounds: int,
    backend: str,
    compose: ComposeFile,
    progress: Callable[[str], None] = print,
    checkpoint: Callable[[RepeatReport], None] | None = None,
    jobs: int = 1,
) -> RepeatReport:
    """N rounds, each one batch on the executor: the round's gamedays `jobs` at a time, each
    in a forked child on a stack of its own, longest first (the previous round's durations,
    else the estimate), recorded in the serial order. A signal ends the run after what
    finished is recorded (`interrupted_by`)."""
    started = time.monotonic()
    report = RepeatReport(rounds, backend, datetime.now(UTC).isoformat(timespec="seconds"))
    pairs = [job(rb, sc) for rb in runbooks for sc in scenarios]
    report.series = [Series(j.runbook.path, j.scenario.id, j.expected.verdict) for j in pairs]
    previous: dict[str, float] = {}
    for n in range(1, rounds + 1):

        def said(result: GamedayResult, n: int = n) -> None:
            progress(
                f"round {n}/{rounds}  {Path(result.runbook).stem:<28} {result.scenario:<28} "
                f"{result.verdict.value:<14} {result.duration_s:5.1f}s"
            )

        batch = run_batch(
            pairs, backend, compose, concurrency=jobs, previous=previous, progress=said
        )
        for j, series in zip(pairs, report.series, strict=True):
            result = batch.results.get(j.key)
            if result is None:  # interrupted before it ended
                continue
            series.verdicts.append(result.verdict.value)
            series.ttr_s.append(result.ttr_s)
            series.reasons.append(result.reason)
            series.durations_s.append(result.duration_s)
            previous[j.key] = result.duration_s
        report.duration_s = time.monotonic() - started
        report.interrupted_by = batch.interrupted_by
        if batch.interrupted_by is None:
            report.rounds_done = n
        if checkpoint:
            checkpoint(report)
        if batch.interrupted_by is not None:
            break
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
    from harness.backends import choose_backend
    from harness.options import check_compose, report_writer, scenarios_from
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
    backend, compose = choose_backend(args.backend), check_compose(args.compose)
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
    report = repeat(runbooks, scenarios, args.n, backend, compose, say, checkpoint, jobs=jobs)
    say("")
    say(table(report))
    if report.interrupted_by is not None:
        say(f"interrupted after {report.rounds_done} of {args.n} round(s)")
        return 128 + report.interrupted_by
    if report.unstable:
        say(f"{len(report.unstable)} scenario(s) gave different verdicts across {args.n} runs")
        return 1
    say(f"every verdict was the same in all {args.n} runs")
    return 0
