"""The runner and its verdict rules end to end on the fake stack: `Gameday` drives it exactly
as it drives a real one (probes over HTTP, background load, the fault injectors, runbook steps
in a real bash through the command bridge), only nothing behind the sockets is a process.

Each gameday uses a small inline runbook and short windows, so it takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.backends.base import Stack
from harness.compose import ComposeFile
from harness.faults.base import Fault
from harness.faults.llm_provider import LlmProviderFault
from harness.faults.missing_variable import MissingVariable
from harness.faults.network import LinkToxic
from harness.faults.process_crash import ProcessCrash
from harness.faults.service_killed import ServiceKilled
from harness.result import GamedayResult, Verdict
from harness.run.gameday import Gameday
from harness.run.scenario import Lift, Scenario
from harness.runbook.parse import parse_runbook

ROOT = Path(__file__).resolve().parents[2]
SECTION = "Service Down (SEV-1)"

RUNBOOK = """\
# Incident Response Runbook

## Incident Severity Levels

### SEV-1: Critical (Service Down)
- **Definition**: Complete service outage affecting all users
- **Response Time**: Immediate (< 5 minutes)

## Incident Response Process

### 3. Immediate Response Actions

#### Service Down (SEV-1)

**Investigation Steps**
```bash
{detect}
```

**Resolution Steps**
```bash
{resolve}
```
"""

DETECT_HEALTH = "# 1. Check the API answers\ncurl -f -s -m 2 http://localhost:8000/health\n"
DETECT_READY = "# 1. Check its dependencies\ncurl -f -s -m 2 http://localhost:8000/ready\n"
BLIND = "# 1. Check the API (does not: `true` never fails)\ntrue\n"
UP = "# 2. Start whatever is stopped\ndocker-compose up -d\n"


def fake_stack(env: dict[str, str]) -> Stack:
    return make_stack("fake", ComposeFile(ROOT / "docker-compose.chaos.yml"), env,
                      env_example=ROOT / ".env.example")


def gameday(tmp_path: Path, detect: str, resolve: str, fault: Callable[[], Fault],
            lift: Lift = "never", detect_window_s: float = 3.0) -> GamedayResult:
    path = tmp_path / "runbook.md"
    path.write_text(RUNBOOK.format(detect=detect.strip(), resolve=resolve.strip()))
    scenario = Scenario(id="on-fake", title="on the fake stack", section=SECTION, fault=fault,
                        severity=1, lift=lift, detect_window_s=detect_window_s,
                        verify_window_s=4.0, hold_s=0.5)
    result = Gameday(parse_runbook(path), scenario, fake_stack, step_timeout=10).run()
    assert result.backend == "fake"
    return result


def line_of(tmp_path: Path, command: str) -> int:
    lines = (tmp_path / "runbook.md").read_text().splitlines()
    return lines.index(command) + 1


def test_killed_service_started_again_by_the_runbook_is_recovered(tmp_path: Path) -> None:
    result = gameday(tmp_path, DETECT_HEALTH, UP, ServiceKilled)
    assert result.verdict == Verdict.RECOVERED, result.reason
    assert result.ttd_s is not None and result.ttr_s is not None
    assert result.ledger.acknowledged > 0 and result.ledger.lost == []
    assert result.fault_check is not None and not result.fault_check.present


def test_the_same_runbook_without_its_resolution_step_is_not_recovered(tmp_path: Path) -> None:
    result = gameday(tmp_path, DETECT_HEALTH, "", ServiceKilled)
    assert result.verdict == Verdict.NOT_RECOVERED, result.reason
    assert "testgen-copilot" in result.reason  # the container left down, by its name


def test_a_blind_detection_step_is_undetected_with_the_resolution_as_second_finding(
    tmp_path: Path,
) -> None:
    result = gameday(tmp_path, BLIND, UP, ServiceKilled, detect_window_s=1.5)
    assert result.verdict == Verdict.UNDETECTED, result.reason
    assert result.ttd_s is None
    assert result.resolution_finding is not None
    assert result.resolution_finding.verdict == Verdict.RECOVERED, result.resolution_finding


def test_a_cut_link_the_runbook_cannot_mend_recovers_only_after_the_lift(tmp_path: Path) -> None:
    restart = "# 2. Restart the API\ndocker-compose restart testgen\n"
    result = gameday(tmp_path, DETECT_READY, restart,
                     lambda: LinkToxic(link="postgres", toxic="cut"), lift="after-resolution")
    assert result.verdict == Verdict.RECOVERED_AFTER_LIFT, result.reason
    assert "still cut" in result.reason


def test_down_v_in_the_resolution_is_data_loss_naming_the_step(tmp_path: Path) -> None:
    reset = "# 2. Reset everything\ndocker-compose down -v\ndocker-compose up -d\n"
    result = gameday(tmp_path, DETECT_HEALTH, reset, ServiceKilled)
    assert result.verdict == Verdict.DATA_LOSS, result.reason
    assert f"after line {line_of(tmp_path, 'docker-compose down -v')} " \
           "`docker-compose down -v`" in result.reason
    assert result.ledger.lost


def test_a_crash_is_healed_by_the_restart_policy_not_by_the_runbook(tmp_path: Path) -> None:
    """The restart policy brings the API back before any step runs: a section whose only
    step changes nothing cannot be credited with the recovery."""
    result = gameday(tmp_path, DETECT_HEALTH, "", ProcessCrash, detect_window_s=1.5)
    assert result.verdict in (Verdict.UNDETECTED, Verdict.NOT_RECOVERED), result.reason
    assert "no step that changes anything" in (
        result.resolution_finding.reason if result.resolution_finding else result.reason)


def test_missing_variable_is_fixed_by_recreating_from_a_repaired_env(tmp_path: Path) -> None:
    fix = ("# 2. Restore the secret and recreate\n"
           "echo TESTGEN_SECRET_KEY=restored-secret-value >> .env\n"
           "docker-compose up -d\n")
    result = gameday(tmp_path, DETECT_HEALTH, fix, MissingVariable)
    assert result.verdict == Verdict.RECOVERED, result.reason


def test_restart_keeps_the_broken_configuration_of_a_missing_variable(tmp_path: Path) -> None:
    fix = ("# 2. Restore the secret and restart\n"
           "echo TESTGEN_SECRET_KEY=restored-secret-value >> .env\n"
           "docker-compose restart testgen\n")
    result = gameday(tmp_path, DETECT_HEALTH, fix, MissingVariable)
    assert result.verdict == Verdict.NOT_RECOVERED, result.reason
    assert "TESTGEN_SECRET_KEY" in result.reason


@pytest.mark.parametrize("fallback, verdict", [
    ("export LOCAL_LLM_ENABLED=true\ndocker-compose up -d ollama testgen", Verdict.RECOVERED),
    ("export LOCAL_LLM_ENABLED=true\ndocker-compose up -d ollama", Verdict.NOT_RECOVERED),
], ids=["recreates-testgen", "recreates-only-ollama"])
def test_an_exhausted_quota_is_routed_around_only_when_testgen_sees_the_fallback(
    tmp_path: Path, fallback: str, verdict: Verdict,
) -> None:
    detect = ("# 1. A real generation\ncurl -f -s -o /dev/null -m 5 -X POST "
              "-H 'Content-Type: application/json' "
              "-d \"{\\\"language\\\": \\\"python\\\", \\\"source\\\": \\\"# $(date +%s%N)\\\"}\" "
              "http://localhost:8000/v1/generate\n")
    result = gameday(tmp_path, detect, "# 2. Enable the local fallback\n" + fallback,
                     LlmProviderFault)
    assert result.verdict == verdict, result.reason
