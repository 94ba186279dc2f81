"""The baseline file: one reader, exact expectations, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.result import Finding, GamedayResult, Verdict
from harness.suite.baseline import expectation, load_baseline

REPO = Path(__file__).resolve().parents[2]


def result(verdict: Verdict, second: Verdict | None = None) -> GamedayResult:
    r = GamedayResult("llm-quota", "t", "s", "rb.md", "local", 2, 900.0, "f", "d")
    r.verdict = verdict
    r.resolution_finding = Finding(second) if second else None
    return r


def write(tmp_path: Path, scenarios: object) -> Path:
    runbook = tmp_path / "rb.md"
    runbook.write_text("# x\n")
    (tmp_path / "rb.baseline.json").write_text(json.dumps({"scenarios": scenarios}))
    return runbook


def test_the_second_finding_is_part_of_the_expectation(tmp_path: Path) -> None:
    rb = write(tmp_path, {"llm-quota": {"verdict": "undetected", "resolution": "not-recovered",
                                        "why": "exports reach only the shell"}})  # fmt: skip
    exp = expectation(rb, "llm-quota", "recovered")
    assert exp.mismatch(result(Verdict.UNDETECTED, Verdict.NOT_RECOVERED)) is None
    fixed = exp.mismatch(result(Verdict.UNDETECTED, Verdict.RECOVERED))
    assert fixed is not None and "expected the resolution to end not-recovered" in fixed
    assert exp.mismatch(result(Verdict.RECOVERED)) is not None


def test_a_scenario_not_listed_expects_its_default(tmp_path: Path) -> None:
    rb = write(tmp_path, {})
    exp = expectation(rb, "service-down", "recovered")
    assert exp.mismatch(result(Verdict.RECOVERED)) is None
    assert "expected recovered" in (exp.mismatch(result(Verdict.SLOW)) or "")


@pytest.mark.parametrize(
    "scenarios",
    [[], {"x": "undetected"}, {"x": {"verdict": "fine"}},
     {"x": {"verdict": "undetected", "resolution": "meh"}}],
)  # fmt: skip
def test_a_malformed_baseline_is_one_line_of_bad_input(tmp_path: Path, scenarios: object) -> None:
    rb = write(tmp_path, scenarios)
    with pytest.raises(BadInput) as err:
        load_baseline(rb)
    assert "\n" not in str(err.value) and "rb.baseline.json" in str(err.value)


def test_the_shipped_baselines_load() -> None:
    for runbook in sorted((REPO / "runbooks").glob("*.md")):
        for exp in load_baseline(runbook).values():
            assert exp.why, f"{runbook.name}: every known defect says why"
