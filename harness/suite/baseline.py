"""Verdict baselines: the known defects of a runbook, `<runbook>.baseline.json` beside it.

    {"schema_version": 1, "runbook": "incident-response.md",
     "scenarios": {"llm-quota": {"verdict": "undetected", "resolution": "not-recovered",
                                 "why": "..."}}}

A scenario listed must keep exactly that verdict (and, where `resolution` is given, that
second finding): a fix or a new failure both show up. A scenario not listed is expected to
reach its own expected verdict (`recovered`). This module is the one reader of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput
from harness.result import GamedayResult, Verdict

VERDICTS = frozenset(v.value for v in Verdict)


@dataclass(frozen=True)
class Expectation:
    verdict: str
    resolution: str | None = None  # the second finding's verdict, for an undetected incident
    why: str = ""  # the baseline's explanation, or where the expectation comes from
    source: str = ""  # "baseline <file>" or "the scenario's expected verdict"

    def mismatch(self, result: GamedayResult) -> str | None:
        """None when the result is what was expected; else one line saying how it differs."""
        got = result.verdict.value
        if got != self.verdict:
            return f"expected {self.verdict} ({self.origin}), got {got}"
        if self.resolution is not None:
            finding = result.resolution_finding
            second = finding.verdict.value if finding else None
            if second != self.resolution:
                return (
                    f"expected the resolution to end {self.resolution} ({self.origin}), "
                    f"got {second or 'no second finding'}"
                )
        return None

    @property
    def origin(self) -> str:
        """Where the expectation comes from, with its explanation when it has one (never a
        dangling "source: " with nothing after it)."""
        parts = [p for p in (self.source, self.why) if p]
        return ": ".join(parts) or "no source recorded"


def baseline_path(runbook_path: str | Path) -> Path:
    return Path(runbook_path).with_suffix(".baseline.json")


def load_baseline(runbook_path: str | Path) -> dict[str, Expectation]:
    """The runbook's baseline entries by scenario id ({} when it has no baseline file)."""
    path = baseline_path(runbook_path)
    if not path.exists():
        return {}
    return read_baseline(path)


def read_baseline(path: Path) -> dict[str, Expectation]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: not a readable baseline file: {exc}") from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(scenarios, dict):
        raise BadInput(f"{path}: a baseline file needs a 'scenarios' object")
    out = {}
    for sid, entry in scenarios.items():
        if not isinstance(entry, dict) or entry.get("verdict") not in VERDICTS:
            raise BadInput(
                f"{path}: scenario {sid!r} needs a known 'verdict' ({', '.join(sorted(VERDICTS))})"
            )
        resolution = entry.get("resolution")
        if resolution is not None and resolution not in VERDICTS:
            raise BadInput(f"{path}: scenario {sid!r}: unknown 'resolution' {resolution!r}")
        out[str(sid)] = Expectation(
            str(entry["verdict"]),
            resolution,
            str(entry.get("why", "")),
            f"baseline {path.name}",
        )
    return out


def expectation(runbook_path: str | Path, scenario_id: str, default: str) -> Expectation:
    """What the suite expects of this scenario on this runbook."""
    known = load_baseline(runbook_path).get(scenario_id)
    return known or Expectation(default, source="the scenario's expected verdict")
