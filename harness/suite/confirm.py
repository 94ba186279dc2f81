"""Confirmation re-runs: which results the executor runs again, alone, and how two merge.

The rule belongs to the verdict (`harness/run/`): when it provides `needs_confirmation(result)
-> str | None` and `merge_confirmation(first, again, why) -> GamedayResult`, those are used.
Until then this module's own, conservative rule: a recovery whose TTR came within 15 % of its
SEV budget (either side), where CPU contention from the other gamedays could have decided
between `recovered` and `slow`. The re-run alone is the measurement without that contention,
so its result stands, with a note naming the first one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from harness.result import GamedayResult, Verdict

MARGIN = 0.15  # of the SEV budget


def _from_run(name: str) -> Callable[..., object] | None:
    for module in ("harness.run.confirm", "harness.run.confirmation", "harness.run.verdict"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if callable(found):
            return found
    return None


def needs_confirmation(result: GamedayResult) -> str | None:
    rule = _from_run("needs_confirmation")
    if rule is not None:
        why = rule(result)
        return None if why is None else str(why)
    if result.verdict not in (Verdict.RECOVERED, Verdict.SLOW) or result.ttr_s is None:
        return None
    if result.budget_s <= 0 or abs(result.ttr_s - result.budget_s) > MARGIN * result.budget_s:
        return None
    return f"TTR {result.ttr_s:.1f} s within {MARGIN:.0%} of the {result.budget_s:g} s budget"


def merge_confirmation(first: GamedayResult, again: GamedayResult, why: str) -> GamedayResult:
    merge = _from_run("merge_confirmation")
    if merge is not None:
        merged = merge(first, again, why)
        assert isinstance(merged, GamedayResult)
        return merged
    again.notes.append(
        f"confirmed alone ({why}): the concurrent run gave {first.verdict.value}"
        + (f", TTR {first.ttr_s:.1f} s" if first.ttr_s is not None else "")
    )
    return again
