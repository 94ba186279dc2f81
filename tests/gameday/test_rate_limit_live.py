"""No observer effect, live: the fixed runbook's Scenario 3 with its rate-limit step applied
(`export LLM_RATE_LIMIT=10`, then `docker-compose up -d ollama testgen` recreates the API with
10 requests a minute per client) is `recovered`. The gameday's probe and load are clients of
that API: they spend under the limit it declares, and no 429 reaches them.

The stack is the chaos layer over the deployment named below, which interpolates
LLM_RATE_LIMIT into the API's environment (the team's deployment passes it to no service:
`deployments/assumed` is the fixture that has what the rule needs). `GAMEDAY_LIVE_REPEAT=5`
runs each scenario five times.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.compose import ComposeFile
from harness.result import Verdict
from harness.run.gameday import Gameday
from harness.runbook.parse import parse_runbook_text
from harness.suite import catalog

pytestmark = pytest.mark.live  # starts the stack's real processes

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.chaos.yml"
DEPLOYMENT = ROOT / "deployments" / "assumed"  # the fixture that interpolates LLM_RATE_LIMIT
FIXED = ROOT / "runbooks" / "incident-response.fixed.md"
SECTION = "### Scenario 3: LLM API Issues"
RECREATED = "export LOCAL_LLM_ENABLED=true\ndocker-compose up -d ollama testgen\n"
APPLIED = "# Implement rate limiting (applied by the recreate below)\nexport LLM_RATE_LIMIT=10\n"
REPEAT = int(os.environ.get("GAMEDAY_LIVE_REPEAT", "1"))


def rate_limited_runbook(tmp: Path):
    text = FIXED.read_text()
    start = text.index(SECTION)
    end = text.index("\n### ", start + len(SECTION))
    section = text[start:end]
    assert RECREATED in section, "the fixed runbook's Scenario 3 changed: update this variant"
    path = tmp / "incident-response.rate-limited.md"
    path.write_text(text[:start] + section.replace(RECREATED, APPLIED + RECREATED) + text[end:])
    return parse_runbook_text(path.read_text(), str(path))


@pytest.mark.parametrize("scenario_id", ["llm-quota", "llm-quota-all-hosted"])
@pytest.mark.parametrize("attempt", range(REPEAT))
def test_scenario_3_with_the_rate_limit_applied_is_recovered(
    scenario_id: str, attempt: int, tmp_path: Path
) -> None:
    runbook = rate_limited_runbook(tmp_path)
    scenario = catalog.for_runbook(FIXED)[scenario_id]
    compose = ComposeFile(COMPOSE, deployment=DEPLOYMENT)
    result = Gameday(runbook, scenario, lambda env: make_stack("local", compose, env)).run()
    detail = f"{result.summary()}\n{result.step_table()}\nprobe: {result.probe_rate}"
    assert result.verdict == Verdict.RECOVERED, detail
    # The step took: the API now declares 10 a minute, and the probe stayed under it.
    assert result.probe_rate["declared_limit_per_min"] == 10, detail
    assert result.probe_rate["generate_per_min"] < 10, detail
    assert result.probe_rate["throttled"] == 0, detail
    assert result.load_rate["throttled"] <= 1, detail  # at most the answer that taught it
    assert "rate limit" not in result.reason
