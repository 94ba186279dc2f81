"""The verdict comes from what the runbook's steps do, not from the harness's wishes.

The same SEV-1 scenario, run against doctored copies of the runbook, must fail in the
way the doctoring predicts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.compose import ComposeFile
from harness.result import StepStatus, Verdict
from harness.run.gameday import Gameday
from harness.runbook.parse import parse_runbook_text
from harness.suite import catalog

SERVICE_DOWN = catalog.get("service-down")
pytestmark = pytest.mark.live  # starts the stack's real processes

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "runbooks" / "incident-response.md").read_text()
SEV1_BLOCK_START = "#### Service Down (SEV-1)"


def sev1_block() -> tuple[int, int]:
    start = RUNBOOK.index(SEV1_BLOCK_START)
    return start, RUNBOOK.index("#### High Error Rate", start)


def doctored(old: str, new: str) -> str:
    """The runbook with one change inside the Service Down (SEV-1) section only."""
    start, end = sev1_block()
    section = RUNBOOK[start:end]
    assert old in section, old
    return RUNBOOK[:start] + section.replace(old, new) + RUNBOOK[end:]


def run(text: str, scenario=SERVICE_DOWN):
    runbook = parse_runbook_text(text, "doctored-incident-response.md")
    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")
    return Gameday(
        runbook, scenario, lambda env: make_stack("local", compose, env, ROOT / ".env.example")
    ).run()


def test_shipped_runbook_recovers_a_killed_service_within_sev1_budget():
    result = run(RUNBOOK)
    assert result.verdict == Verdict.RECOVERED, result.summary() + "\n" + result.step_table()
    assert result.ttd_s is not None and result.ttr_s is not None
    assert 0 < result.ttd_s <= result.ttr_s <= result.budget_s
    restart = [s for s in result.steps if s.phase == "resolve"]
    assert [s.command for s in restart] == ["docker-compose restart testgen"]
    assert restart[0].status == StepStatus.OK
    assert result.ledger.acknowledged > 0 and not result.ledger.lost


def test_without_the_restart_step_the_service_is_not_recovered():
    text = doctored("docker-compose restart testgen", "docker-compose ps")
    result = run(text, dataclasses.replace(SERVICE_DOWN, verify_window_s=3.0))
    assert result.verdict == Verdict.NOT_RECOVERED, result.summary()
    assert "testgen-copilot Exited (137)" in result.reason


def test_detection_steps_that_cannot_see_the_fault_give_undetected():
    # `docker ps | grep testgen` still matches testgen-postgres and testgen-redis when the
    # API is down: a check that cannot see this fault. Keep only that one.
    text = doctored("curl http://localhost:8000/health\ncurl http://localhost:8000/ready", "")
    text = text.replace("curl http://localhost:6379/  # Redis\n", "")
    result = run(text, dataclasses.replace(SERVICE_DOWN, detect_window_s=2.0))
    assert result.verdict == Verdict.UNDETECTED, result.summary() + "\n" + result.step_table()
    assert result.ttd_s is None
    # Declared by its impact, the incident still gets the section's resolution steps: their
    # outcome (here the restart brings the API back) is the second finding.
    assert any(s.phase == "resolve" for s in result.steps)
    assert result.resolution_finding is not None
    assert result.resolution_finding.verdict == Verdict.RECOVERED, result.resolution_finding


def test_a_noisy_detection_step_is_recorded_and_never_counts_as_detection():
    # A step whose exit status flips on a healthy stack (here: every other run) is noisy.
    flip = "if [ -f flip ]; then rm flip; false; else touch flip; fi"
    text = doctored("docker ps | grep testgen", flip)
    result = run(text)
    assert result.verdict == Verdict.RECOVERED, result.summary()
    assert any(flip in n for n in result.noisy_steps), result.noisy_steps
    assert not any(s.detected and s.command == flip for s in result.steps)
    assert "curl" in next(s.command for s in result.steps if s.detected)
