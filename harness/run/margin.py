"""Timing verdicts that do not depend on the neighbours.

A verdict decided by a margin small against the run's own noise (a TTR near the SEV budget,
a detection just before its window closed) can flip with the machine's load: on two shared
cores a concurrent run's TTR varies several-fold. `needs_confirmation` says when a result
is such a verdict; the executor then re-runs that gameday alone, after the concurrent run,
and `merge_confirmation` records both measurements, the verdict being the lone run's.

Both are pure functions of the record (tested on hand-built results).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.result import GamedayResult, Verdict
from harness.run.verdict import SYMPTOM_STOPPED

# A TTR within this factor of the budget (either side) is close: TTRs of the same gameday
# were seen 0.6 s alone and 2.8 s beside three others on two cores.
BUDGET_FACTOR = 3.0
_TIMED = {Verdict.RECOVERED: Verdict.SLOW, Verdict.SLOW: Verdict.RECOVERED}


def needs_confirmation(result: GamedayResult) -> str | None:
    """Why this result's verdict could flip with the machine's load, or None."""
    reasons = []
    budget = result.budget_s
    timed = [("", result.verdict, result.ttr_s)]
    if result.resolution_finding is not None:
        f = result.resolution_finding
        timed.append(("the second finding's ", f.verdict, f.ttr_s))
    for whose, verdict, ttr in timed:
        close = ttr is not None and budget / BUDGET_FACTOR <= ttr <= budget * BUDGET_FACTOR
        if verdict in _TIMED and close and budget > 0:
            reasons.append(
                f"{whose}TTR {ttr:.2f}s is within {BUDGET_FACTOR:g}× of the {budget:g}s "
                f"budget ({verdict.value} could be {_TIMED[verdict].value})"
            )
    late = _detected_at_window_end(result)
    if late:
        reasons.append(late)
    if untested(result):
        # An OOM loop that stops under load (slow reads of the poisoned entries) keeps going
        # when the gameday has the cores to itself.
        reasons.append("the fault's symptom stopped by itself while other gamedays loaded the "
                       "machine: a run alone may keep it going")
    return "; ".join(reasons) or None


def _detected_at_window_end(result: GamedayResult) -> str:
    if result.ttd_s is None or result.detect_window_s is None or result.detect_opened_s is None:
        return ""
    end = result.detect_opened_s + result.detect_window_s
    repoll = result.ttd_resolution_s or result.poll_interval_s
    if result.ttd_s < end - repoll:
        return ""
    return (
        f"detected at t0+{result.ttd_s:.2f}s, within one re-poll ({repoll:.2f}s) of the "
        f"detection window's end (t0+{end:.2f}s): undetected is one slow poll away"
    )


def measurement(result: GamedayResult, run: str) -> dict[str, Any]:
    """One run's timings and what they depended on, for `measurements`."""
    finding = result.resolution_finding
    return {
        "run": run,
        "verdict": result.verdict.value,
        "reason": result.reason,
        "resolution": None if finding is None else finding.verdict.value,
        "ttd_s": result.ttd_s,
        "ttd_resolution_s": result.ttd_resolution_s,
        "ttr_s": result.ttr_s,
        "ttr_resolution_s": result.ttr_resolution_s,
        "started_at": result.started_at,
        "duration_s": result.duration_s,
        "machine": dict(result.machine),
    }


def untested(result: GamedayResult) -> bool:
    """The gameday tested nothing because its fault stopped by itself: running it again is a
    new attempt, not a second opinion, wherever it runs (also beside other pytest workers)."""
    return result.verdict == Verdict.ABORTED and result.reason.startswith(SYMPTOM_STOPPED)


def merge_confirmation(
    concurrent: GamedayResult, alone: GamedayResult, why: str = "", second: str = "alone"
) -> GamedayResult:
    """The result of a gameday confirmed by a re-run alone: the lone run's record (its
    timings are the ones not inflated by neighbours), carrying both measurements, the
    concurrent one first, and why the confirmation was needed (`why`, else the rule's).
    `second` names how the re-run ran ("again": beside the same neighbours)."""
    if (concurrent.scenario, concurrent.runbook) != (alone.scenario, alone.runbook):
        raise ValueError(
            f"a confirmation of {concurrent.scenario} ({concurrent.runbook}) cannot be "
            f"{alone.scenario} ({alone.runbook})"
        )
    notes = list(alone.notes)
    if concurrent.verdict != alone.verdict:
        notes.append(
            f"the concurrent run gave {concurrent.verdict.value} (TTD {concurrent.ttd_s}, "
            f"TTR {concurrent.ttr_s}); re-run {second}: {alone.verdict.value}"
        )
    return replace(
        alone,
        margin=why or concurrent.margin or needs_confirmation(concurrent) or "",
        measurements=[measurement(concurrent, "concurrent"), measurement(alone, second)],
        notes=notes,
    )
