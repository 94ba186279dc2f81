"""Every incident of the runbook as a scenario: the fault behind it and the section that answers it.

Scenario sections ("Scenario N: ...") hold investigation and resolution steps but no alert:
their incidents are detected by the runbook's "Detection and Alert" checks plus their own
investigation steps (`steps_from`).
"""

from __future__ import annotations

from harness.faults.cache_bloat import CacheBloat
from harness.faults.llm_provider import LlmProviderFault
from harness.faults.memory_pressure import MemoryPressure
from harness.faults.missing_variable import MissingVariable
from harness.faults.network import LinkToxic, Toxics
from harness.faults.port_conflict import PortConflict
from harness.faults.service_killed import ServiceKilled
from harness.scenario import Scenario

ALERTS = ("Detection and Alert",)
CHAOS_HOOKS = {"TESTGEN_CHAOS_HOOKS": "1"}

SERVICE_DOWN = Scenario(
    id="service-down",
    title="TestGen API killed (SIGKILL through the engine), stays down",
    section="Service Down (SEV-1)",
    fault=lambda: ServiceKilled("testgen"),
    severity=1,
)

HIGH_ERROR_RATE = Scenario(
    id="high-error-rate",
    title="LLM provider answers 500 for 80 % of requests",
    section="High Error Rate (SEV-2)",
    fault=lambda: LlmProviderFault("openai", "server_error", ratio=0.8),
    severity=2,
)

PERFORMANCE = Scenario(
    id="performance",
    title="Latency on the PostgreSQL (300 ms) and LLM (1500 ms) links",
    section="Performance Issues (SEV-2/SEV-3)",
    fault=lambda: Toxics(
        LinkToxic("postgres", "latency", latency=300), LinkToxic("llm", "latency", latency=1500)
    ),
    severity=2,
    # A degraded network is repaired by whoever owns it; the section only diagnoses.
    lift="after-detection",
)

MISSING_VARIABLE = Scenario(
    id="wont-start-missing-variable",
    title="Deploy without TESTGEN_SECRET_KEY: the API refuses to start",
    section="Scenario 1: Service Won't Start",
    fault=lambda: MissingVariable("TESTGEN_SECRET_KEY"),
    severity=1,
    steps_from=ALERTS,
)

PORT_CONFLICT = Scenario(
    id="wont-start-port-conflict",
    title="Port 8000 taken by another process while the API restarts",
    section="Scenario 1: Service Won't Start",
    fault=lambda: PortConflict("testgen", 8000),
    severity=1,
    steps_from=ALERTS,
    verify_window_s=10.0,
)

OOM = Scenario(
    id="high-memory-oom",
    title="Oversized cache entries drive the API past its memory limit: OOM kills",
    section="Scenario 2: High Memory Usage",
    fault=lambda: CacheBloat(payload_mb=48),
    severity=2,
    steps_from=ALERTS,
    stack_env=CHAOS_HOOKS,
    verify_window_s=20.0,
)

MEMORY_PRESSURE = Scenario(
    id="high-memory-no-kill",
    title="The API holds 85 % of its memory limit (no kill yet)",
    section="Scenario 2: High Memory Usage",
    fault=lambda: MemoryPressure(0.85),
    severity=3,
    steps_from=ALERTS,
    stack_env=CHAOS_HOOKS,
    detect_window_s=10.0,
)

LLM_QUOTA = Scenario(
    id="llm-quota",
    title="OpenAI quota exhausted: 429 insufficient_quota, and it stays so",
    section="Scenario 3: LLM API Issues",
    fault=lambda: LlmProviderFault("openai", "quota_exceeded"),
    severity=2,
    steps_from=ALERTS,
    detect_window_s=10.0,
    verify_window_s=15.0,
)

DATABASE_DOWN = Scenario(
    id="database-down",
    title="PostgreSQL killed hard (stays down)",
    section="Scenario 4: Database Connection Issues",
    fault=lambda: ServiceKilled("postgres"),
    severity=1,
    steps_from=ALERTS,
)

DATABASE_LINK_CUT = Scenario(
    id="database-link-cut",
    title="Network link from the API to PostgreSQL cut",
    section="Scenario 4: Database Connection Issues",
    fault=lambda: LinkToxic("postgres", "cut"),
    severity=1,
    steps_from=ALERTS,
    # The network comes back when its owners repair it; the runbook's steps run while it is
    # still cut, and the service must then recover without further help.
    lift="after-resolution",
)

REDIS_DOWN = Scenario(
    id="redis-down",
    title="Redis killed hard (stays down); the runbook has no Redis section",
    section="Service Down (SEV-1)",
    fault=lambda: ServiceKilled("redis"),
    severity=3,
    verify_window_s=10.0,
)

SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        SERVICE_DOWN,
        HIGH_ERROR_RATE,
        PERFORMANCE,
        MISSING_VARIABLE,
        PORT_CONFLICT,
        OOM,
        MEMORY_PRESSURE,
        LLM_QUOTA,
        DATABASE_DOWN,
        DATABASE_LINK_CUT,
        REDIS_DOWN,
    )
}


def get(scenario_id: str) -> Scenario:
    try:
        return SCENARIOS[scenario_id]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario_id!r}; known: {', '.join(SCENARIOS)}") from None
