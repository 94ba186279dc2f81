"""A gameday scenario: which runbook section answers which fault, at which severity."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from harness.faults.base import Fault

Lift = Literal["never", "after-detection", "after-resolution"]


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
    detect_window_s: float = 20.0  # detection steps are polled this long (bounded by the budget)
    verify_window_s: float = 15.0  # after the last resolution step, recovery is awaited this long
    stack_env: Mapping[str, str] = field(default_factory=dict)  # the operator's shell at `up`
    steps_from: tuple[str, ...] = ()  # extra sections whose detection steps also count
    expected: str = "recovered"  # verdict the suite expects when no baseline says otherwise
