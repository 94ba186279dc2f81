"""The drift report as data: each finding with the runbook step(s), the deployment line(s),
its effect and the scenarios it changes. Serialized as `docs/drift-schema.md` describes.

A report is built by `harness.deployment.drift.drift_report` and rendered by
`harness.deployment.render`; the run record carries `to_dict()` (results.json `drift`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.deployment.steps import StepRef

SCHEMA_VERSION = 1

# What a finding does to the runbook, worst first (the order reports sort by).
DESTROYS_DATA = "destroys data"
BLOCKS_UP = "blocks up"
FAILS = "fails every time"
SILENT_NO_OP = "silent no-op"
NEVER_DETECTS = "can never detect"
EFFECTS = (DESTROYS_DATA, BLOCKS_UP, FAILS, SILENT_NO_OP, NEVER_DETECTS)


@dataclass(frozen=True)
class DeploymentRef:
    """A line of a deployment file (line None: the file as a whole, or its absence)."""

    path: str
    line: int | None
    text: str = ""  # the line as written (secrets masked)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentRef:
        line = data.get("line")
        return cls(
            str(data["path"]), int(line) if line is not None else None, str(data.get("text", ""))
        )

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass
class Finding:
    rule: str  # e.g. "redis-noauth"; see docs/drift-schema.md for the list
    effect: str  # one of EFFECTS
    message: str  # what happens, in the runbook's words
    runbook: list[StepRef] = field(default_factory=list)
    deployment: list[DeploymentRef] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "effect": self.effect,
            "message": self.message,
            "runbook": [s.to_dict() for s in self.runbook],
            "deployment": [d.to_dict() for d in self.deployment],
            "scenarios": list(self.scenarios),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=str(data["rule"]),
            effect=str(data["effect"]),
            message=str(data["message"]),
            runbook=[StepRef.from_dict(s) for s in data.get("runbook", [])],
            deployment=[DeploymentRef.from_dict(d) for d in data.get("deployment", [])],
            scenarios=[str(s) for s in data.get("scenarios", [])],
        )


@dataclass
class DriftReport:
    deployment: str  # the deployment dir as given
    runbooks: list[str]
    files: list[str] = field(default_factory=list)  # deployment files read
    findings: list[Finding] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.findings)

    @property
    def exit_status(self) -> int:
        """0: no drift, 1: drift found (bad input never gets as far as a report: 2)."""
        return 1 if self.findings else 0

    def by_effect(self) -> dict[str, int]:
        counts = {effect: 0 for effect in EFFECTS}
        for finding in self.findings:
            counts[finding.effect] = counts.get(finding.effect, 0) + 1
        return {k: v for k, v in counts.items() if v}

    def for_scenario(self, scenario_id: str) -> list[Finding]:
        return [f for f in self.findings if scenario_id in f.scenarios]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "deployment": self.deployment,
            "runbooks": list(self.runbooks),
            "files": list(self.files),
            "drifted": self.drifted,
            "counts": self.by_effect(),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"drift report schema_version {version!r}; this harness reads {SCHEMA_VERSION}"
            )
        return cls(
            deployment=str(data["deployment"]),
            runbooks=[str(r) for r in data.get("runbooks", [])],
            files=[str(f) for f in data.get("files", [])],
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
        )
