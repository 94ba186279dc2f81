"""Immediate response actions of the runbook (section 3), as gamedays."""

import pytest

from harness import catalog


@pytest.mark.gameday
@pytest.mark.sev(1)
def test_service_down(gameday):
    """The TestGen API is killed and stays down: Service Down (SEV-1) must bring it back."""
    gameday.check(catalog.SERVICE_DOWN)


@pytest.mark.gameday
@pytest.mark.sev(2)
def test_high_error_rate(gameday):
    """The LLM provider fails 80 % of requests: High Error Rate (SEV-2)."""
    gameday.check(catalog.HIGH_ERROR_RATE)


@pytest.mark.gameday
@pytest.mark.sev(2)
def test_performance(gameday):
    """Latency on the PostgreSQL and LLM links: Performance Issues (SEV-2/SEV-3)."""
    gameday.check(catalog.PERFORMANCE)


@pytest.mark.gameday
@pytest.mark.sev(3)
def test_redis_down(gameday):
    """Redis is killed: no section covers it; Service Down is the runbook's closest answer."""
    gameday.check(catalog.REDIS_DOWN)
