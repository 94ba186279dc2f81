"""Random, overlapping faults on one live stack: after every heal the service is back and
every acknowledged job reads back (harness/trust/chaos_machine.py).

CI runs a small deterministic search (derandomized, no example database); scheduled runs set
GAMEDAY_CHAOS_EXAMPLES=N for a larger one. A failure prints the shrunk rule sequence.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis.stateful import run_state_machine_as_test

from harness.trust.chaos_machine import ChaosMachine, LiveStack, chaos_settings, runbook_actions


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStack]:
    with LiveStack() as stack:
        yield stack


def test_the_machine_runs_the_fixed_runbooks_actions_not_its_reading_steps():
    actions = runbook_actions()
    assert "docker-compose up -d" in actions and "docker-compose restart testgen" in actions
    assert not any(a.startswith(("docker logs", "vim")) for a in actions), actions


def test_after_any_faults_and_runbook_steps_heal_restores_service_and_keeps_every_job(live):
    run_state_machine_as_test(lambda: ChaosMachine(live), settings=chaos_settings())
