"""`GamedayResult`: the one record of a gameday. Every report is a view of it.

All times are seconds on one monotonic clock, relative to the start of the gameday
(`Event.t`, `StepRun.started`), so TTD and TTR are differences of the same clock.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 2  # 2: recovered-after-lift, resolution finding, hold, fault check


class Verdict(enum.StrEnum):
    RECOVERED = "recovered"  # the runbook's steps recovered it, held, within the SEV budget
    # The service came back only once the world lifted the fault (a network repaired by its
    # owners): the runbook's steps did not restore it.
    RECOVERED_AFTER_LIFT = "recovered-after-lift"
    SLOW = "slow"  # recovered after the budget
    NOT_RECOVERED = "not-recovered"
    UNDETECTED = "undetected"
    ABORTED = "aborted"  # steady state never held: nothing was tested
    DATA_LOSS = "data-loss"  # a step destroyed acknowledged data


class StepStatus(enum.StrEnum):
    OK = "ok"  # ran, exit status 0
    FAILED = "failed"  # ran, non-zero exit status
    TIMED_OUT = "timed-out"  # cut off by the harness
    MANUAL = "manual"  # cannot run in a gameday; never counted as passed
    SKIPPED = "skipped"  # not reached


@dataclass
class Event:
    t: float
    kind: (
        str  # up, steady-state, inject, fault-confirmed, detected, step, lift, recovered, verdict…
    )
    detail: str = ""


@dataclass
class StepRun:
    phase: str  # "steady-state" | "detect" | "resolve"
    section: str
    comment: str
    command: str
    line: int
    role: str
    status: StepStatus
    exit_code: int | None = None
    stdout: str = ""  # redacted, truncated excerpt
    stderr: str = ""
    started: float = 0.0
    duration: float = 0.0
    manual_reason: str | None = None
    baseline_exit: int | None = None  # detection steps: exit status on the healthy stack
    detected: bool = False  # detection steps: exit status differed from the baseline


@dataclass
class Impact:
    requests: int = 0
    failed: int = 0
    incident_requests: int = 0  # sent between inject and recovery (or the end)
    incident_failed: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    severity: int = 4  # impact-derived SEV: all failing 1, >50 % 2, some 3, none 4
    buckets: list[tuple[float, int, int]] = field(
        default_factory=list
    )  # (t, ok, failed) per second


@dataclass
class Ledger:
    acknowledged: int = 0
    verified: int = 0
    lost: list[str] = field(default_factory=list)  # job ids acknowledged but not readable


@dataclass
class Finding:
    """The resolution's outcome when detection missed the incident (the second finding).

    The incident is declared by its impact when the detection window ends, the section's
    resolution steps still run, and this records what they achieved."""

    verdict: Verdict
    reason: str = ""
    ttr_s: float | None = None  # from t0, when recovery was first seen


@dataclass
class FaultCheck:
    """Whether the injected fault was still in effect when recovery was judged."""

    checked: bool = False  # False: the injector has no check for this; said in `unchecked`
    present: bool = False
    evidence: str = ""


@dataclass
class GamedayResult:
    scenario: str
    title: str
    section: str
    runbook: str
    backend: str
    declared_severity: int
    budget_s: float
    fault: str
    fault_description: str
    verdict: Verdict = Verdict.ABORTED
    reason: str = ""
    ttd_s: float | None = None
    ttr_s: float | None = None
    t0: float | None = None
    poll_interval_s: float = 0.1
    started_at: str = ""  # wall clock, ISO 8601
    duration_s: float = 0.0
    events: list[Event] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)
    noisy_steps: list[str] = field(default_factory=list)
    impact: Impact = field(default_factory=Impact)
    ledger: Ledger = field(default_factory=Ledger)
    notes: list[str] = field(default_factory=list)
    # Schema 2: the rules that keep "recovered" true (docs/design.md §1).
    resolution_finding: Finding | None = None  # set when undetected and the resolution ran
    recovery_confirmed_s: float | None = None  # from t0: when the hold window completed
    hold_s: float = 0.0  # how long steady state had to hold, without restarts
    fault_check: FaultCheck = field(default_factory=FaultCheck)
    baseline_failing_steps: list[str] = field(default_factory=list)  # non-zero on every healthy run
    unchecked: list[str] = field(default_factory=list)  # what this verdict did not check
    # How precisely TTD and TTR are known: the median time between two runs of the same
    # detection step, and between two verify probes (both on the gameday's monotonic clock).
    ttd_resolution_s: float | None = None
    ttr_resolution_s: float | None = None
    address_map: dict[str, str] = field(default_factory=dict)  # "127.0.0.1:30441": "localhost:8000"
    # Added in schema 2 (readers of earlier files get the defaults): what the timings depend on.
    detect_window_s: float | None = None  # the detection window, whole (never cut by the budget)
    detect_opened_s: float | None = None  # from t0: when it opened (the fault was confirmed)
    verify_window_s: float | None = None  # how long recovery was awaited after the steps
    # The harness's own clients of the API, within its declared rate limit: requests, the
    # busiest minute of each, requests held back to stay under the limit, 429s received.
    probe_rate: dict[str, Any] = field(default_factory=dict)
    load_rate: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)  # load average, the stack's CPU-s
    margin: str = ""  # why the verdict was decided by a margin small against the run's noise
    # When the verdict was confirmed by a re-run alone: both measurements, the first one first.
    measurements: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.RECOVERED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GamedayResult:
        data = dict(data)
        data["verdict"] = Verdict(data["verdict"])
        data["events"] = [Event(**e) for e in data.get("events", [])]
        data["steps"] = [
            StepRun(**{**s, "status": StepStatus(s["status"])}) for s in data.get("steps", [])
        ]
        imp = dict(data.get("impact", {}))
        imp["buckets"] = [tuple(b) for b in imp.get("buckets", [])]
        data["impact"] = Impact(**imp)
        data["ledger"] = Ledger(**data.get("ledger", {}))
        finding = data.get("resolution_finding")
        if finding is not None:
            data["resolution_finding"] = Finding(
                **{**finding, "verdict": Verdict(finding["verdict"])}
            )
        data["fault_check"] = FaultCheck(**data.get("fault_check", {}))
        return cls(**data)

    def step_table(self) -> str:
        """Plain-text step table, for pytest failure messages and the terminal."""
        lines = [f"{'phase':<12} {'line':>4} {'status':<9} {'exit':>4} {'time':>6}  command"]
        for s in self.steps:
            exit_text = "-" if s.exit_code is None else str(s.exit_code)
            mark = " <- detected" if s.detected else ""
            cmd = s.command.splitlines()[0] if s.command else f"# {s.comment}"
            lines.append(
                f"{s.phase:<12} {s.line:>4} {s.status.value:<9} {exit_text:>4} "
                f"{s.duration:>5.2f}s  {cmd}{mark}"
            )
            if s.manual_reason:
                lines.append(f"{'':>36}manual: {s.manual_reason}")
        return "\n".join(lines)

    def summary(self) -> str:
        ttd = _timed(self.ttd_s, self.ttd_resolution_s)
        ttr = _timed(self.ttr_s, self.ttr_resolution_s)
        return (
            f"{self.scenario}: {self.verdict.value} (TTD {ttd}, TTR {ttr}, budget SEV-"
            f"{self.declared_severity} {self.budget_s:.0f}s, backend {self.backend})"
            + (f" — {self.reason}" if self.reason else "")
            + (
                f"; resolution: {self.resolution_finding.verdict.value}"
                + (f" — {self.resolution_finding.reason}" if self.resolution_finding.reason else "")
                if self.resolution_finding
                else ""
            )
        )


def _timed(value: float | None, resolution: float | None) -> str:
    """A time with its precision: "2.10s ±0.10s" (the measurement is one poll apart)."""
    if value is None:
        return "-"
    return f"{value:.2f}s" + (f" ±{resolution:.2f}s" if resolution else "")
