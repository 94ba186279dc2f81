"""Immediate response actions of the runbook, as gamedays."""

import pytest

from harness import catalog


@pytest.mark.gameday
@pytest.mark.sev(1)
def test_service_down(gameday):
    """SEV-1: the TestGen API is killed and stays down; the runbook must bring it back in 5 min."""
    gameday.check(catalog.SERVICE_DOWN)
