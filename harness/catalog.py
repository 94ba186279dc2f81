"""Every incident of the runbook as a scenario: the fault behind it and the section that answers it."""

from __future__ import annotations

from harness.faults.process_crash import ProcessCrash
from harness.faults.service_killed import ServiceKilled
from harness.scenario import Scenario

SERVICE_DOWN = Scenario(
    id="service-down",
    title="TestGen API killed (SIGKILL through the engine), stays down",
    section="Service Down (SEV-1)",
    fault=lambda: ServiceKilled("testgen"),
    severity=1,
)

SERVICE_CRASH_RESTART_POLICY = Scenario(
    id="service-crash",
    title="TestGen API process crashes; its restart policy brings it back",
    section="Service Down (SEV-1)",
    fault=lambda: ProcessCrash("testgen"),
    severity=1,
    detect_window_s=5.0,
)

SCENARIOS: dict[str, Scenario] = {s.id: s for s in (SERVICE_DOWN,)}


def get(scenario_id: str) -> Scenario:
    try:
        return SCENARIOS[scenario_id]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario_id!r}; known: {', '.join(SCENARIOS)}") from None
