"""Scheduled exercises: each run appended to a history directory, compared with the last one.

    gameday run --history DIR  ──▶  record_exercise(run, DIR)
        DIR/<started_at>/results.json      this run, appended (never overwriting one)
        DIR/<started_at>/exercise.md       what changed since the previous run
        $GITHUB_STEP_SUMMARY               the same Markdown, appended, when set
        exit 1 only on a regression        a verdict (or second finding) that got worse,
                                           or an SEV budget newly missed

What changed, each with the step that caused it: new defects and fixed ones (the step whose
outcome changed, or the step the reason names), and the TTR trend (the resolution step whose
time changed most). A scenario run on one side only is "not compared", never a regression.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.reports._format import md_cell, md_code, seconds
from harness.reports.history import load_history
from harness.reports.json_results import RESULTS_FILE, Run, write_atomic, write_run
from harness.reports.regression import (
    NOT_COMPARED,
    Comparison,
    Key,
    Snapshot,
    StepChange,
    compare,
    noise,
)
from harness.result import GamedayResult, StepRun

SUMMARY_FILE = "exercise.md"


@dataclass
class Change:
    """One line of the summary: a scenario, what happened, and the step behind it."""

    key: Key
    what: str  # "not-recovered (was recovered)", "TTR 4.20 s (was 0.80 s)"
    step: str  # "line 63 `docker-compose restart testgen`: ok (exit 0) → failed (exit 1)"


@dataclass
class ExerciseOutcome:
    run_dir: Path
    summary_path: Path
    summary: str
    previous: str | None  # the run compared with (its directory), None for the first one
    regressions: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    new_defects: list[Change] = field(default_factory=list)
    budgets_missed: list[Change] = field(default_factory=list)
    ttr_trend: list[Change] = field(default_factory=list)
    not_compared: list[Key] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """1 only on a regression against the previous run; 0 otherwise (first run too)."""
        return 1 if self.regressions else 0


def _run_dir(history_dir: Path, run: Run) -> Path:
    stamp = re.sub(r"[^0-9A-Za-z]+", "", (run.info.started_at or "run").split("+")[0])
    base = history_dir / (stamp[:15] if len(stamp) >= 15 else stamp or "run")
    target, n = base, 1
    while (target / RESULTS_FILE).exists():  # never overwrite an earlier run
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    return target


def _previous(history_dir: Path, run: Run) -> Run | None:
    """The latest run already in the history that started before this one."""
    if not any(history_dir.rglob(RESULTS_FILE)):
        return None
    earlier = [r for r in load_history(history_dir).runs if r.info.started_at < run.info.started_at]
    return earlier[-1] if earlier else None


def _step_words(step: StepRun | None) -> str:
    if step is None:
        return ""
    text = " ".join(step.command.split()) if step.command else f"# {step.comment}"
    return f"line {step.line} {md_code(text)}"


def _named_step(result: GamedayResult | None) -> str:
    """The step a result's reason names ("line 191 `docker-compose down -v`"), if any."""
    if result is None:
        return ""
    texts = [result.reason] + (
        [result.resolution_finding.reason] if result.resolution_finding else []
    )
    for text in texts:
        m = re.search(r"\bline (\d+)", text or "")
        if m:
            line = int(m.group(1))
            step = next((s for s in result.steps if s.line == line), None)
            return _step_words(step) if step else f"line {line}"
    return ""


def _cause(c: Comparison, key: Key) -> str:
    """The step behind a change: the first resolution (else detection) step whose outcome
    changed, else the step the new reason names, else the detector of either side."""
    changed = [s for s in c.steps if s.key == key]
    # A step that ran in the new run first (one that no longer runs explains less).
    changed.sort(
        key=lambda s: (s.new == "not run", {"resolve": 0, "detect": 1}.get(s.phase, 2), s.line)
    )
    if changed:
        s: StepChange = changed[0]
        text = " ".join(s.command.split())
        return f"line {s.line} {md_code(text)} ({s.phase}): {s.old} → {s.new}"
    new, old = c.new.results.get(key), c.old.results.get(key)
    named = _named_step(new) or _named_step(old)
    if named:
        return named
    for result in (new, old):
        if result is not None:
            detector = next((s for s in result.steps if s.detected), None)
            if detector is not None:
                return _step_words(detector) + " (detected)"
    return "no step changed its outcome"


def _missed(r: GamedayResult) -> bool:
    return r.ttr_s is None or r.ttr_s > r.budget_s


def _slowest_change(old: GamedayResult, new: GamedayResult) -> str:
    """The resolution step whose duration changed most between the two runs."""
    before = {s.line: s for s in old.steps if s.phase == "resolve"}
    best, delta = None, 0.0
    for s in new.steps:
        if s.phase == "resolve" and s.line in before:
            d = s.duration - before[s.line].duration
            if abs(d) > abs(delta):
                best, delta = s, d
    if best is None:
        return "no resolution step ran on both sides"
    was = seconds(before[best.line].duration)
    return f"{_step_words(best)}: {seconds(best.duration)} (was {was})"


def assess(c: Comparison, outcome: ExerciseOutcome) -> None:
    """Fill the outcome's lists from a comparison of the previous run with this one."""
    for v in c.verdicts:
        if v.kind in NOT_COMPARED:
            outcome.not_compared.append(v.key)
            continue
        change = Change(v.key, f"{v.new} (was {v.old})", _cause(c, v.key))
        if v.kind == "regressed":
            outcome.regressions.append(change)
        if v.kind in ("fixed", "improved"):
            outcome.fixed.append(change)
        elif v.kind in ("regressed", "changed"):
            outcome.new_defects.append(change)
    for f in c.findings:
        if f.kind == "regressed":
            change = Change(f.key, f"resolution {f.new} (was {f.old})", _cause(c, f.key))
            outcome.regressions.append(change)
            outcome.new_defects.append(change)
    for key, new in c.new.results.items():
        old = c.old.results.get(key)
        if old is None:
            continue
        # Same verdict, but the budget newly missed (a worse verdict already says so itself).
        if new.verdict == old.verdict and _missed(new) and not _missed(old):
            change = Change(
                key,
                f"TTR {seconds(new.ttr_s)} over the {seconds(new.budget_s)} budget "
                f"(was {seconds(old.ttr_s)})",
                _slowest_change(old, new),
            )
            outcome.budgets_missed.append(change)
            outcome.regressions.append(change)
        if old.ttr_s is not None and new.ttr_s is not None:
            poll = max(old.poll_interval_s, new.poll_interval_s)
            if abs(new.ttr_s - old.ttr_s) > noise(old.ttr_s, poll):
                outcome.ttr_trend.append(
                    Change(
                        key,
                        f"TTR {seconds(new.ttr_s)} (was {seconds(old.ttr_s)})",
                        _slowest_change(old, new),
                    )
                )


def _table(title: str, changes: list[Change], empty: str) -> list[str]:
    out = [f"## {title}", ""]
    if not changes:
        return [*out, empty, ""]
    out += ["| scenario | runbook | what | the step behind it |", "|---|---|---|---|"]
    out += [
        f"| {md_cell(c.key[0])} | {md_cell(c.key[1])} | {md_cell(c.what)} | {md_cell(c.step)} |"
        for c in changes
    ]
    return [*out, ""]


def summary_markdown(run: Run, outcome: ExerciseOutcome) -> str:
    head = [f"# Scheduled gameday {run.info.started_at}", ""]
    if outcome.previous is None:
        head += ["The first run in this history: nothing to compare with yet.", ""]
        return "\n".join(head)
    verdict = (
        f"**{len(outcome.regressions)} regression(s)** against {md_code(outcome.previous)}"
        if outcome.regressions
        else f"No regression against {md_code(outcome.previous)}"
    )
    head += [f"{verdict}; {len(outcome.fixed)} fixed.", ""]
    body = (
        _table("New defects", outcome.new_defects, "None.")
        + _table("Fixed", outcome.fixed, "None.")
        + _table("SEV budgets newly missed", outcome.budgets_missed, "None.")
        + _table(
            "TTR trend (changes beyond noise)", outcome.ttr_trend, "No TTR change beyond noise."
        )
    )
    if outcome.not_compared:
        names = ", ".join(f"{s} ({rb})" for s, rb in outcome.not_compared)
        body += ["## Not compared (run on one side only)", "", names, ""]
    return "\n".join(head + body)


def record_exercise(run: Run, history_dir: Path) -> ExerciseOutcome:
    """Append the run to the history, compare it with the previous run, write the summary
    (to the run's directory, and to $GITHUB_STEP_SUMMARY when set)."""
    history_dir = Path(history_dir)
    history_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous(history_dir, run)
    run_dir = _run_dir(history_dir, run)
    write_run(run_dir / RESULTS_FILE, run.results, run.info)
    outcome = ExerciseOutcome(run_dir, run_dir / SUMMARY_FILE, "", None)
    if previous is not None:
        prev_dir = previous.path.parent if previous.path is not None else history_dir
        outcome.previous = (
            str(prev_dir.relative_to(history_dir))
            if prev_dir.is_relative_to(history_dir)
            else str(prev_dir)
        )
        assess(compare(Snapshot.from_run(previous), Snapshot.from_run(run)), outcome)
    outcome.summary = summary_markdown(run, outcome)
    write_atomic(outcome.summary_path, outcome.summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(outcome.summary + "\n")
    return outcome
