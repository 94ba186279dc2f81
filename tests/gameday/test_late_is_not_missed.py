"""Late is not missed: the detection window is the scenario's, whole, whatever the SEV
budget; a detection after the budget is `slow` with its time; a window of zero or less
cannot be made."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.result import Verdict
from harness.run.detect import poll_detection
from harness.run.verdict import decide
from harness.suite import catalog
from tests.gameday.test_verdict_rules import DETECTOR, HELD, obs

GAMEDAY = Path(__file__).resolve().parents[2] / "harness" / "run" / "gameday.py"


def test_a_detection_after_the_budget_is_slow_with_its_time_not_undetected() -> None:
    late = dataclasses.replace(DETECTOR, started=2.0, duration=0.1)
    record = obs(budget_s=1.0, detected_by=late, ttd_s=2.1,
                 verify=dataclasses.replace(HELD, first_seen_s=3.4, confirmed_s=6.4))  # fmt: skip
    decision = decide(record)
    assert decision.verdict == Verdict.SLOW
    assert "detected after 2.1s (over the budget)" in decision.reason
    assert "recovered after 3.4s, budget 1s" in decision.reason


def test_undetected_means_the_whole_window_passed_with_nothing() -> None:
    decision = decide(obs(budget_s=1.0, detected_by=None, detect_window_s=20.0))
    assert decision.verdict == Verdict.UNDETECTED
    assert "within 20s" in decision.reason


@pytest.mark.parametrize("window", [0.0, -1.0])
def test_a_window_of_zero_or_less_cannot_be_made(window: float) -> None:
    with pytest.raises(BadInput, match="detect_window_s must be a positive number"):
        dataclasses.replace(catalog.get("service-down"), detect_window_s=window)
    with pytest.raises(ValueError, match="must be positive"):
        poll_detection(None, [], {}, now=lambda: 0.0, record=None, opened=0.0,  # type: ignore[arg-type]
                       window_s=window, poll_interval=0.1)  # fmt: skip
    with pytest.raises(ValueError, match="cannot have run"):
        decide(obs(detected_by=None, detect_window_s=window))


def test_the_runner_takes_the_window_from_the_scenario_and_never_from_the_budget() -> None:
    """The rule as code: the value handed to the poller is the scenario's window, and no
    expression of the detect phase involves the budget."""
    tree = ast.parse(GAMEDAY.read_text())
    detect = next(n for n in ast.walk(tree)
                  if isinstance(n, ast.FunctionDef) and n.name == "_detect")  # fmt: skip
    source = ast.unparse(detect)
    assert "window = self.scenario.detect_window_s" in source
    assert "budget" not in source.replace("budget counts from t0", "")
