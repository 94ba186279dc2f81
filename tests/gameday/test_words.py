"""Words that match what happened: each message below is checked against the case it must
describe and the case it must not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.result import Event, GamedayResult, Verdict
from harness.run.diagnosis import value_source
from harness.run.gameday import credit_recovery
from harness.run.verdict import Verification, decide
from harness.runbook.parse import parse_runbook_text
from harness.suite import catalog, listing
from harness.suite.baseline import Expectation
from tests.gameday.test_verdict_rules import HELD, obs

ROOT = Path(__file__).resolve().parents[2]
NEVER = Verification(held=False, observed="/ready answered 503", fault_checked=True)
LOST = Verification(held=False, observed="/ready answered 503", fault_checked=True,
                    ever_seen_s=4.2, lost="after 1.5s (/ready answered 503)")  # fmt: skip


def test_did_not_recover_only_when_recovery_was_never_seen() -> None:
    never = decide(obs(verify=NEVER, ledger_checked=False))
    assert "did not recover" in never.reason
    lost = decide(obs(verify=LOST, ledger_checked=False))
    assert lost.verdict == Verdict.NOT_RECOVERED
    assert "did not recover" not in lost.reason
    assert "recovered at t0+4.2s, then lost after 1.5s (/ready answered 503)" in lost.reason


def test_unchecked_never_says_the_service_never_came_back_when_it_did() -> None:
    lost = decide(obs(verify=LOST, ledger_checked=False))
    assert not any("never came back" in u for u in lost.unchecked)
    assert any("came back but did not hold" in u for u in lost.unchecked)
    never = decide(obs(verify=NEVER, ledger_checked=False))
    assert any("never came back" in u for u in never.unchecked)


@pytest.mark.parametrize(
    ("verdict", "shown"),
    [(Verdict.RECOVERED, "recovered"), (Verdict.SLOW, "recovered"),
     (Verdict.RECOVERED_AFTER_LIFT, "recovered"), (Verdict.NOT_RECOVERED, "held"),
     (Verdict.UNDETECTED, "held"), (Verdict.DATA_LOSS, "held")],
)  # fmt: skip
def test_no_recovered_line_before_a_verdict_that_is_not_a_recovery(
    verdict: Verdict, shown: str
) -> None:
    events = [Event(1.0, "recovery-seen", "verify: ok"), Event(4.0, "held", "verify: held 3s")]
    credit_recovery(events, verdict)
    assert [e.kind for e in events] == ["recovery-seen", shown]


def test_the_fault_still_present_is_not_recovered_and_the_timeline_says_held() -> None:
    decision = decide(obs(verify=replace(HELD, fault_present="squatter on 8000")))
    events = [Event(4.0, "held", "verify: held 3s")]
    credit_recovery(events, decision.verdict)
    assert decision.verdict == Verdict.NOT_RECOVERED and events[0].kind == "held"


@pytest.mark.parametrize(
    ("shell", "dotenv", "source"),
    [({"LOCAL_LLM_ENABLED": "true"}, {}, "the operator's shell"),
     ({}, {"LOCAL_LLM_ENABLED": "true"}, "`.env`"),
     ({"LOCAL_LLM_ENABLED": "true"}, {"LOCAL_LLM_ENABLED": "true"}, "the operator's shell"),
     ({}, {}, "the compose file")],
)  # fmt: skip
def test_a_value_from_env_file_is_not_the_operators_shell(
    shell: dict[str, str], dotenv: dict[str, str], source: str
) -> None:
    assert value_source("LOCAL_LLM_ENABLED", "true", shell, dotenv) == source


@pytest.mark.parametrize(
    ("expectation", "words"),
    [(Expectation("recovered", source="the scenario's expected verdict"),
      "expected recovered (the scenario's expected verdict), got slow"),
     (Expectation("recovered", why="steps restart it", source="baseline x.json"),
      "expected recovered (baseline x.json: steps restart it), got slow")],
)  # fmt: skip
def test_the_expected_verdict_is_never_followed_by_an_empty_explanation(
    expectation: Expectation, words: str
) -> None:
    result = GamedayResult("s", "", "", "", "local", 1, 1.0, "f", "", verdict=Verdict.SLOW)
    text = expectation.mismatch(result)
    assert text == words and ": )" not in text


def test_a_renamed_section_error_names_every_missing_section() -> None:
    text = (ROOT / "runbooks" / "incident-response.md").read_text()
    renamed = text.replace("Scenario 3: LLM API Issues", "Scenario 3: Provider trouble").replace(
        "Scenario 4: Database Connection Issues", "Scenario 4: Postgres trouble"
    )
    runbook = parse_runbook_text(renamed, "renamed.md")
    with pytest.raises(BadInput) as err:
        listing.check_sections(runbook, list(catalog.SCENARIOS.values()))
    message = str(err.value)
    assert "LLM API Issues" in message and "Database Connection Issues" in message
    assert "llm-quota" in message and "database-down" in message
    assert "\n" not in message
