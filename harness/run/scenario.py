"""A gameday scenario: which runbook section answers which fault, at which severity.

Scenarios are declared as data (`harness/suite/scenarios.toml`, and `<runbook>.scenarios.toml`
beside a runbook); `harness.suite.catalog` loads and validates them into `Scenario` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import BadInput
from harness.faults.base import Fault

Lift = Literal["never", "after-detection", "after-resolution"]
LIFTS: tuple[str, ...] = ("never", "after-detection", "after-resolution")


class ScenarioError(BadInput):
    """A scenario file (or a scenario against its runbook) is unusable: `file:line: what`."""


@dataclass(frozen=True)
class FaultSpec:
    """A fault as declared in a scenario file: its registry name and parameters."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                         for k, v in self.params.items())
        return f"{self.kind}({args})"


@dataclass(frozen=True)
class Scenario:
    """One incident from the runbook, as a repeatable experiment.

    `lift` says when the fault's external cause goes away by itself, as it would in the
    real world (a network blip heals; an exhausted quota does not): "never" means the
    runbook's steps alone must recover the service.
    """

    id: str
    title: str
    section: str  # runbook section that answers this incident (exact title or unique part)
    fault: Callable[[], Fault]  # a fresh injector per run
    severity: int | None = None  # declared SEV; default: the first SEV the section names
    lift: Lift = "never"
    detect_window_s: float = 20.0  # detection steps are polled this long, whatever the budget
    verify_window_s: float = 15.0  # after the last resolution step, recovery is awaited this long
    hold_s: float = 3.0  # recovery counts once steady state held this long with no restart
    stack_env: Mapping[str, str] = field(default_factory=dict)  # the operator's shell at `up`
    steps_from: tuple[str, ...] = ()  # extra sections whose detection steps also count
    expected: str = "recovered"  # verdict the suite expects when no baseline says otherwise
    # Where it was declared ("harness/suite/scenarios.toml:31") and its fault(s) as declared: what
    # `gameday list`, `--dry-run` and the coverage table show. Empty for Python-made ones.
    origin: str = ""
    faults: tuple[FaultSpec, ...] = ()

    def __post_init__(self) -> None:
        # A window that cannot run would turn "not looked at" into "missed" (undetected
        # within -1 s): no scenario can be made with one, from a file or from Python.
        where = f"{self.origin}: " if self.origin else ""
        for name in ("detect_window_s", "verify_window_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ScenarioError(
                    f"{where}scenario {self.id}: {name} must be a positive number of seconds, "
                    f"not {value!r}"
                )
        if not self.hold_s >= 0:
            raise ScenarioError(f"{where}scenario {self.id}: hold_s must not be negative")

    @property
    def fault_summary(self) -> str:
        return " + ".join(map(str, self.faults)) or "(python)"
