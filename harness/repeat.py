"""Repeatability: the same gameday, run N times, must give the same verdict every time.

    for round in 1..N:                       (rounds, not N runs in a row: a scenario's runs
        for runbook, scenario in selection:   are spread over the whole session, so drift and
            Gameday(...).run() ─▶ verdict     interference between scenarios show up too)
    ─▶ per (runbook, scenario): verdict counts, TTR spread; any scenario with more than one
       verdict is *unstable* (exit status 1)

DESIGN.md §7: "the same suite run repeatedly gives the same verdicts". This is the check,
with the Gameday runner directly (no pytest), on any backend.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harness.errors import BadInput, HarnessError
from harness.gameday import Gameday, StackFactory
from harness.runbook_model import Runbook
from harness.scenario import Scenario

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
    path = Path(runbook.path).with_suffix(".baseline.json")
    if path.exists():
        try:
            entry = json.loads(path.read_text()).get("scenarios", {}).get(scenario.id)
        except (OSError, ValueError):
            entry = None
        if isinstance(entry, dict) and "verdict" in entry:
            return str(entry["verdict"])
    return scenario.expected


def repeat(
    runbooks: Sequence[Runbook],
    scenarios: Sequence[Scenario],
    rounds: int,
    stack_factory: StackFactory,
    backend: str,
    progress: Callable[[str], None] = print,
    checkpoint: Callable[[RepeatReport], None] | None = None,
) -> RepeatReport:
    started = time.monotonic()
    report = RepeatReport(rounds, backend, datetime.now(UTC).isoformat(timespec="seconds"))
    pairs = [(rb, sc) for rb in runbooks for sc in scenarios]
    report.series = [Series(rb.path, sc.id, expected_verdict(rb, sc)) for rb, sc in pairs]
    for n in range(1, rounds + 1):
        for (runbook, scenario), series in zip(pairs, report.series, strict=True):
            try:
                result = Gameday(runbook, scenario, stack_factory).run()
                verdict, ttr, reason, took = (
                    result.verdict.value,
                    result.ttr_s,
                    result.reason,
                    result.duration_s,
                )
            except HarnessError as exc:  # the stack failed: an outcome too, and not a stable one
                verdict, ttr, reason, took = "error", None, f"{type(exc).__name__}: {exc}", 0.0
            series.verdicts.append(verdict)
            series.ttr_s.append(ttr)
            series.reasons.append(reason)
            series.durations_s.append(took)
            progress(
                f"round {n}/{rounds}  {Path(runbook.path).stem:<28} {scenario.id:<28} "
                f"{verdict:<14} {took:5.1f}s"
            )
        report.rounds_done = n
        report.duration_s = time.monotonic() - started
        if checkpoint:
            checkpoint(report)
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
    from harness import catalog
    from harness.backends import choose_backend, make_stack
    from harness.mutate import check_compose, scenarios_from
    from harness.runbook import parse_runbook

    if args.n < 1:
        raise BadInput(f"repeat: N must be at least 1, not {args.n}")
    scenarios = scenarios_from(args.scenario, catalog.SCENARIOS)
    root = Path(__file__).resolve().parent.parent
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
    backend = choose_backend(args.backend)
    compose = check_compose(args.compose)
    for opt in ("json", "markdown"):
        target = getattr(args, opt)
        if target and Path(target).is_dir():
            raise BadInput(f"{target}: --{opt} must be a file, not a directory")

    def factory(env: dict[str, str]) -> Any:
        return make_stack(backend, compose, env, env_example=compose.path.parent / ".env.example")

    def checkpoint(report: RepeatReport) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        if args.markdown:
            Path(args.markdown).write_text(to_markdown(report))

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    runs = args.n * len(runbooks) * len(scenarios)
    say(
        f"{args.n} round(s) × {len(runbooks)} runbook(s) × {len(scenarios)} scenario(s) = "
        f"{runs} gamedays, estimated ~{runs * 10 / 60:.0f} min (a gameday takes ~2-20 s)"
    )
    report = repeat(runbooks, scenarios, args.n, factory, backend, say, checkpoint)
    say("")
    say(table(report))
    if report.unstable:
        say(f"{len(report.unstable)} scenario(s) gave different verdicts across {args.n} runs")
        return 1
    say(f"every verdict was the same in all {args.n} runs")
    return 0
