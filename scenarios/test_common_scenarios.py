"""The runbook's common incident scenarios (Scenario 1 to 4), as gamedays."""

import pytest

from harness import catalog


@pytest.mark.gameday
@pytest.mark.sev(1)
def test_wont_start_missing_variable(gameday):
    """Scenario 1: a deploy without TESTGEN_SECRET_KEY; the API refuses to start."""
    gameday.check(catalog.MISSING_VARIABLE)


@pytest.mark.gameday
@pytest.mark.sev(1)
def test_wont_start_port_conflict(gameday):
    """Scenario 1: port 8000 is taken by another process while the API restarts."""
    gameday.check(catalog.PORT_CONFLICT)


@pytest.mark.gameday
@pytest.mark.sev(2)
def test_high_memory_oom(gameday):
    """Scenario 2: oversized cache entries push the API past its memory limit (OOM kills)."""
    gameday.check(catalog.OOM)


@pytest.mark.gameday
@pytest.mark.sev(3)
def test_high_memory_no_kill(gameday):
    """Scenario 2: the API holds 85 % of its memory limit, not killed yet."""
    gameday.check(catalog.MEMORY_PRESSURE)


@pytest.mark.gameday
@pytest.mark.sev(2)
def test_llm_quota(gameday):
    """Scenario 3: the OpenAI quota is exhausted and stays exhausted."""
    gameday.check(catalog.LLM_QUOTA)


@pytest.mark.gameday
@pytest.mark.sev(1)
def test_database_down(gameday):
    """Scenario 4: PostgreSQL is killed hard."""
    gameday.check(catalog.DATABASE_DOWN)


@pytest.mark.gameday
@pytest.mark.sev(1)
def test_database_link_cut(gameday):
    """Scenario 4: the network link from the API to PostgreSQL is cut (then repaired)."""
    gameday.check(catalog.DATABASE_LINK_CUT)
