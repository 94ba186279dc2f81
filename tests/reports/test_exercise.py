"""Scheduled exercises: append to the history, compare with the previous run, summarize."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.reports.exercise import SUMMARY_FILE, record_exercise
from harness.reports.history import load_history
from harness.reports.json_results import Run, RunInfo
from harness.result import Verdict

from .factories import data_loss, not_recovered, recovered, undetected_with_finding


def night(day: int, *results) -> Run:
    started = f"2026-11-{day:02d}T03:17:00+00:00"
    results = [replace(r, started_at=started) for r in results]
    return Run(RunInfo.now(results, started_at=started, backend="local"), results)


def test_the_first_run_is_appended_and_passes(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    outcome = record_exercise(night(24, recovered()), tmp_path)
    assert outcome.exit_status == 0 and outcome.previous is None
    assert (outcome.run_dir / "results.json").exists()
    assert outcome.summary_path == outcome.run_dir / SUMMARY_FILE
    assert "The first run in this history" in outcome.summary_path.read_text()
    assert len(load_history(tmp_path).runs) == 1


def test_one_worse_verdict_exits_1_and_the_summary_names_the_step(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    record_exercise(night(24, recovered(), recovered("llm-quota")), tmp_path)
    outcome = record_exercise(night(25, not_recovered(), recovered("llm-quota")), tmp_path)
    assert outcome.exit_status == 1
    assert [c.key for c in outcome.regressions] == [("service-down", "incident-response")]
    summary = outcome.summary_path.read_text()
    assert "**1 regression(s)** against `20261124T031700`" in summary
    defects = summary.split("## New defects", 1)[1].split("## ", 1)[0]
    assert "not-recovered (was recovered)" in defects
    # The step that caused it: the resolution step whose outcome changed.
    assert "line 63 `docker-compose restart testgen` (resolve): ok (exit 0) → failed (exit 1)" in (
        defects
    )
    assert len(load_history(tmp_path).runs) == 2


def test_no_change_exits_0(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    record_exercise(night(24, recovered(), data_loss()), tmp_path)
    outcome = record_exercise(night(25, recovered(), data_loss()), tmp_path)
    assert outcome.exit_status == 0
    assert "No regression against `20261124T031700`; 0 fixed." in outcome.summary
    assert "## New defects\n\nNone." in outcome.summary


def test_a_fix_is_reported_with_its_step_and_is_not_a_regression(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    record_exercise(night(24, not_recovered()), tmp_path)
    outcome = record_exercise(night(25, recovered()), tmp_path)
    assert outcome.exit_status == 0
    fixed = outcome.summary.split("## Fixed", 1)[1].split("## ", 1)[0]
    assert "recovered (was not-recovered)" in fixed and "line 63" in fixed


def test_a_budget_newly_missed_is_a_regression(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    before = replace(recovered(ttr=200.0, ttd=10.0), verdict=Verdict.RECOVERED_AFTER_LIFT)
    after = replace(recovered(ttr=420.0, ttd=10.0), verdict=Verdict.RECOVERED_AFTER_LIFT)
    record_exercise(night(24, before), tmp_path)
    outcome = record_exercise(night(25, after), tmp_path)
    assert outcome.exit_status == 1
    [missed] = outcome.budgets_missed
    assert "over the 5 min 00 s budget (was 3 min 20 s)" in missed.what
    assert missed.step.startswith("line 63 `docker-compose restart testgen`")


def test_a_second_finding_that_got_worse_is_a_regression(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    good = undetected_with_finding()
    good.resolution_finding = replace(good.resolution_finding, verdict=Verdict.RECOVERED)
    record_exercise(night(24, good), tmp_path)
    outcome = record_exercise(night(25, undetected_with_finding()), tmp_path)
    assert outcome.exit_status == 1
    assert outcome.regressions[0].what == "resolution not-recovered (was recovered)"


def test_a_scenario_on_one_side_only_is_not_compared(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    record_exercise(night(24, recovered(), recovered("redis-down")), tmp_path)
    outcome = record_exercise(night(25, recovered()), tmp_path)
    assert outcome.exit_status == 0
    assert outcome.not_compared == [("redis-down", "incident-response")]
    assert "## Not compared (run on one side only)" in outcome.summary


def test_the_summary_goes_to_github_step_summary_when_set(tmp_path, monkeypatch):
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    history = tmp_path / "history"
    record_exercise(night(24, recovered()), history)
    outcome = record_exercise(night(25, not_recovered()), history)
    text = step_summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never replaced
    assert outcome.summary in text and "regression(s)" in text


def test_a_run_with_the_same_start_never_overwrites_one_in_the_history(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    first = record_exercise(night(24, recovered()), tmp_path)
    second = record_exercise(night(24, recovered()), tmp_path)
    assert first.run_dir != second.run_dir
    assert isinstance(second.run_dir, Path) and len(load_history(tmp_path).runs) == 2
