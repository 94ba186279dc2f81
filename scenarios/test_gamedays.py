"""Every scenario of the catalog, against every runbook that has it (see conftest.py)."""

import pytest

from harness.suite import catalog
from harness.suite.plugin import GamedayFixture


@pytest.mark.gameday
def test_gameday(gameday: GamedayFixture, scenario_id: str) -> None:
    """One incident, as the catalog declares it: fault, runbook section, SEV, lift, windows."""
    gameday.check(catalog.for_runbook(gameday.runbook.path)[scenario_id])
