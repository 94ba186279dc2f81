"""The record of one mutation run: the unmutated runs, each mutant's outcome per scenario,
the score. Saved as JSON (`--json`) and rendered by `render.py`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.trust.mutate.derive import Mutant, Untouched

SCHEMA = "gameday-mutation/1"


@dataclass
class ScenarioOutcome:
    """One scenario run against one mutant."""

    scenario: str
    original_verdict: str
    verdict: str  # the mutant's verdict, or "error"
    killed: bool
    why: str  # killed: the verdict change; survived: the classification
    duration_s: float = 0.0
    detected_line: int | None = None
    ttr_s: float | None = None
    # Survived, and the classifier explains why the verdict cannot depend on the change
    # (manual or read-only step, another step does the same, ...): an equivalent mutant.
    equivalent: bool = False


@dataclass
class MutantResult:
    mutant: Mutant
    status: str  # "killed" | "survived" | "invalid" | "error"
    outcomes: list[ScenarioOutcome] = field(default_factory=list)
    note: str = ""  # invalid: the parse error

    def to_dict(self) -> dict[str, Any]:
        m = asdict(self.mutant)
        m.pop("text")
        return {
            **m,
            "status": self.status,
            "note": self.note,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


@dataclass
class OriginalRun:
    scenario: str
    verdict: str
    duration_s: float
    detected_line: int | None
    ttd_s: float | None
    ttr_s: float | None
    reason: str = ""


@dataclass
class MutationReport:
    runbook: str
    backend: str
    scenarios: list[str]
    started_at: str
    originals: dict[str, OriginalRun] = field(default_factory=dict)
    results: list[MutantResult] = field(default_factory=list)
    untouched: list[Untouched] = field(default_factory=list)
    total_mutants: int = 0  # derived, before --max-mutants
    duration_s: float = 0.0
    finished: bool = False

    @property
    def killed(self) -> list[MutantResult]:
        return [r for r in self.results if r.status == "killed"]

    @property
    def survived(self) -> list[MutantResult]:
        return [r for r in self.results if r.status == "survived"]

    @property
    def equivalent(self) -> list[MutantResult]:
        """Survivors every outcome of which is explained: the verdict cannot depend on them."""
        return [
            r
            for r in self.survived
            if r.outcomes and all(o.equivalent or o.verdict == "error" for o in r.outcomes)
        ]

    @property
    def score(self) -> float | None:
        """Killed over non-equivalent mutants (equivalent survivors are not counted)."""
        counted = len(self.killed) + len(self.survived) - len(self.equivalent)
        return len(self.killed) / counted if counted else None

    def pair_score(self) -> tuple[int, int]:
        """(killed, counted) over (mutant, scenario) pairs."""
        pairs = [o for r in self.results for o in r.outcomes if o.verdict != "error"]
        return sum(o.killed for o in pairs), len(pairs)

    def to_dict(self) -> dict[str, Any]:
        killed, pairs = self.pair_score()
        return {
            "schema": SCHEMA,
            "runbook": self.runbook,
            "backend": self.backend,
            "scenarios": self.scenarios,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
            "finished": self.finished,
            "total_mutants": self.total_mutants,
            "score": {
                "killed": len(self.killed),
                "survived": len(self.survived),
                "equivalent": len(self.equivalent),
                "invalid": sum(r.status == "invalid" for r in self.results),
                "error": sum(r.status == "error" for r in self.results),
                "mutation_score": self.score,
                "pairs_killed": killed,
                "pairs": pairs,
            },
            "originals": {k: asdict(v) for k, v in self.originals.items()},
            "mutants": [r.to_dict() for r in self.results],
            "untouched": [asdict(u) for u in self.untouched],
        }
