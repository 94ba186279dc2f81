"""The answer a report opens on: per runbook, would it work tonight, and which incidents fail.

Shared by the HTML report's scorecard and the terminal's final table, so both say the same:

    incident-response: 3 of 13 incidents recovered by the runbook's steps; 10 defects
                       (1 data loss); every verdict as expected

A result is *as expected* when its verdict (and, where the baseline pins one, its second
finding) is what the runbook's baseline file records, or `recovered` where the baseline
records nothing; otherwise it is a *regression* (or a fix, when it became `recovered`).
The expectation is the one the run recorded (`RunInfo.expected`, written by the executor),
else the baseline beside the runbook; with neither it is unknown and nothing is claimed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.reports._format import runbook_stem
from harness.result import GamedayResult, Verdict
from harness.suite.baseline import Expectation, baseline_path, read_baseline

# Worst first: what the scorecard sorts by (a data loss before a slow recovery).
SEVERITY_ORDER = {
    Verdict.DATA_LOSS.value: 0,
    Verdict.NOT_RECOVERED.value: 1,
    Verdict.UNDETECTED.value: 2,
    Verdict.RECOVERED_AFTER_LIFT.value: 3,
    Verdict.SLOW.value: 4,
    Verdict.ABORTED.value: 5,
    Verdict.RECOVERED.value: 6,
}


@dataclass(frozen=True)
class Expected:
    verdict: str
    resolution: str | None = None
    why: str = ""


# What the run recorded it expected (`RunInfo.expected`, by `<scenario>--<runbook stem>`).
Recorded = Mapping[str, Mapping[str, Any]]


def expected_of(result: GamedayResult, recorded: Recorded | None = None) -> Expected | None:
    """What the suite expected of this result: as the run recorded it, else the runbook's
    baseline; None when neither can be known here."""
    entry_of_run = (recorded or {}).get(f"{result.scenario}--{runbook_stem(result.runbook)}")
    if entry_of_run and entry_of_run.get("verdict"):
        return Expected(
            str(entry_of_run["verdict"]),
            entry_of_run.get("resolution"),
            str(entry_of_run.get("source") or ""),
        )
    try:
        entry = _baseline(result.runbook).get(result.scenario) if result.runbook else None
    except (BadInput, OSError):
        return None
    if entry is None:
        if not result.runbook or not Path(result.runbook).exists():
            return None  # no runbook here to read its baseline: unknown, not "recovered"
        return Expected(Verdict.RECOVERED.value)
    return Expected(entry.verdict, entry.resolution, entry.why)


def _baseline(runbook: str) -> dict[str, Expectation]:
    path = baseline_path(runbook)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read_baseline(str(path), stamp)


@functools.lru_cache(maxsize=32)
def _read_baseline(path: str, stamp: int) -> dict[str, Expectation]:
    # Keyed by modification time: every cell of a report asks, the file is read once.
    return read_baseline(Path(path))


def expectation_word(result: GamedayResult, recorded: Recorded | None = None) -> str:
    """The word for a result against its expectation: as expected, regression, fixed (better
    than expected), or the empty string when the expectation is unknown."""
    exp = expected_of(result, recorded)
    if exp is None:
        return ""
    finding = result.resolution_finding
    second = finding.verdict.value if finding is not None else None
    if result.verdict.value == exp.verdict and (exp.resolution in (None, second)):
        return "as expected"
    if result.verdict == Verdict.RECOVERED:
        return "fixed"
    return "regression"


def is_defect(result: GamedayResult) -> bool:
    """The runbook's steps did not bring the service back in budget (aborted: nothing tested)."""
    return result.verdict not in (Verdict.RECOVERED, Verdict.ABORTED)


def tonight_line(results: Iterable[GamedayResult], recorded: Recorded | None = None) -> str:
    """The runbook's line, e.g. `3 of 13 incidents recovered by the runbook's steps;
    10 defects (1 data loss)`."""
    rows = list(results)
    recovered = sum(r.verdict == Verdict.RECOVERED for r in rows)
    defects = [r for r in rows if is_defect(r)]
    aborted = sum(r.verdict == Verdict.ABORTED for r in rows)
    lost = sum(r.verdict == Verdict.DATA_LOSS for r in rows)
    text = f"{recovered} of {len(rows)} incidents recovered by the runbook's steps"
    text += f"; {len(defects)} defect{'s' if len(defects) != 1 else ''}"
    if lost:
        text += f" ({lost} data loss)"
    if aborted:
        text += f"; {aborted} aborted (nothing tested)"
    words = [expectation_word(r, recorded) for r in rows]
    regressions = words.count("regression")
    if regressions:
        text += f"; {regressions} regression{'s' if regressions != 1 else ''}"
    elif words and all(w == "as expected" for w in words):
        text += "; every verdict as expected"
    return text


def worst_first(
    results: Iterable[GamedayResult], recorded: Recorded | None = None
) -> list[GamedayResult]:
    """Regressions first, then by how bad the verdict is, then by scenario id."""
    return sorted(
        results,
        key=lambda r: (
            expectation_word(r, recorded) != "regression",
            SEVERITY_ORDER.get(r.verdict.value, 5),
            r.scenario,
            runbook_stem(r.runbook),
        ),
    )


def by_runbook(results: Iterable[GamedayResult]) -> dict[str, list[GamedayResult]]:
    """Results grouped by runbook path, runbooks in the order they first appear."""
    out: dict[str, list[GamedayResult]] = {}
    for r in results:
        out.setdefault(r.runbook, []).append(r)
    return out


def scenario_order(results: Iterable[GamedayResult], recorded: Recorded | None = None) -> list[str]:
    """Scenario ids for the matrix rows: the one with the worst cell (any runbook) first."""
    worst: dict[str, tuple[bool, int]] = {}
    for r in results:
        rank = (
            expectation_word(r, recorded) != "regression",
            SEVERITY_ORDER.get(r.verdict.value, 5),
        )
        worst[r.scenario] = min(worst.get(r.scenario, rank), rank)
    return sorted(worst, key=lambda s: (worst[s], s))
