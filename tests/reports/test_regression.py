"""Regression report: verdict changes, TTD/TTR beyond noise, steps that changed behaviour."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from harness.errors import BadInput
from harness.reports.json_results import Run, RunInfo, write_run
from harness.reports.regression import (
    Snapshot,
    classify,
    compare,
    load_snapshot,
    noise,
    parse_pairs,
    to_html,
    to_markdown,
)
from harness.result import Finding, StepStatus, Verdict

from .factories import after_lift, not_recovered, recovered, undetected_with_finding


def snap(*results, label="run"):
    return Snapshot.from_run(Run(RunInfo(started_at=label), list(results)), label)


def test_noise_is_three_polls_or_a_fifth_of_the_old_value():
    assert noise(0.5, 0.1) == pytest.approx(0.3)  # 3 polls dominate short times
    assert noise(10.0, 0.1) == pytest.approx(2.0)  # 20 % dominates long ones


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("recovered", "not-recovered", "regressed"),
        ("recovered", "slow", "regressed"),
        ("recovered", "recovered-after-lift", "regressed"),
        ("slow", "recovered-after-lift", "regressed"),
        ("recovered-after-lift", "recovered", "fixed"),
        ("recovered-after-lift", "not-recovered", "changed"),
        ("slow", "data-loss", "regressed"),
        ("not-recovered", "recovered", "fixed"),
        ("not-recovered", "slow", "improved"),
        ("undetected", "not-recovered", "changed"),
        (None, "recovered", "new"),
        ("recovered", None, "missing"),
    ],
)
def test_verdict_changes_are_classified(old, new, kind):
    assert classify(old, new) == kind


def test_a_verdict_that_regressed_is_reported_with_the_new_reason():
    c = compare(snap(recovered("a"), recovered("b")), snap(recovered("a"), not_recovered("b")))
    assert [(v.key[0], v.old, v.new, v.kind) for v in c.verdicts] == [
        ("b", "recovered", "not-recovered", "regressed")
    ]
    assert "did not recover" in c.verdicts[0].reason
    assert c.regressed and c.compared == 2


def test_ttr_changes_within_noise_are_not_reported_and_beyond_it_are():
    old = recovered(ttr=10.0)
    within = compare(snap(old), snap(replace(recovered(ttr=11.9))))  # noise 2.0
    beyond = compare(snap(old), snap(replace(recovered(ttr=12.5))))
    assert within.timings == []
    assert [(t.metric, t.old, t.new, t.noise) for t in beyond.timings] == [("TTR", 10.0, 12.5, 2.0)]
    assert beyond.timings[0].slower


def test_a_short_ttr_uses_the_poll_interval_as_its_noise_floor():
    # noise = max(3 × 0.1 s, 20 % of 0.5 s) = 0.3 s
    c = compare(snap(recovered(ttr=0.5)), snap(recovered(ttr=0.75)))
    assert c.timings == []
    c = compare(snap(recovered(ttr=0.5)), snap(recovered(ttr=0.9)))
    assert [t.metric for t in c.timings] == ["TTR"]


def test_steps_whose_status_or_exit_code_changed_are_listed_by_phase_and_line():
    c = compare(snap(recovered()), snap(not_recovered()))
    assert [(s.phase, s.line, s.old, s.new) for s in c.steps] == [
        ("resolve", 63, "ok (exit 0)", "failed (exit 1)")
    ]


def test_a_step_that_no_longer_ran_is_a_change():
    new = recovered()
    new.steps = [s for s in new.steps if not (s.phase == "detect" and s.line == 60)]
    c = compare(snap(recovered()), snap(new))
    assert [(s.phase, s.line, s.old, s.new) for s in c.steps] == [
        ("detect", 60, "ok (exit 0)", "not run")
    ]


def test_scenarios_are_told_apart_by_runbook():
    a = recovered(runbook="runbooks/incident-response.md")
    b = not_recovered(runbook="runbooks/other.md")
    c = compare(snap(a), snap(a, b))
    assert [(v.key, v.kind) for v in c.verdicts] == [(("service-down", "other"), "new")]


def test_a_runbook_baseline_file_compares_verdicts_only(tmp_path):
    baseline = tmp_path / "incident-response.baseline.json"
    baseline.write_text(
        json.dumps(
            {"scenarios": {"service-down": {"verdict": "not-recovered", "why": "known defect"}}}
        )
    )
    run = write_run(tmp_path / "run", [recovered()])
    c = compare(load_snapshot(baseline), load_snapshot(run))
    assert [(v.old, v.new, v.kind) for v in c.verdicts] == [("not-recovered", "recovered", "fixed")]
    md = to_markdown(c)
    assert md.count("Not compared: a baseline file records verdicts only.") == 2


def test_a_bad_baseline_file_is_bad_input(tmp_path):
    path = tmp_path / "x.baseline.json"
    path.write_text(json.dumps({"scenarios": {"service-down": {"verdict": "fine"}}}))
    with pytest.raises(BadInput, match="needs a known 'verdict'"):
        load_snapshot(path)


def test_markdown_and_html_say_the_same_and_escape_the_record():
    bad = not_recovered()
    bad.reason = "<script>x</script> | pipe"
    bad.steps[-1].command = "echo '<b>' | tee /x"
    c = compare(snap(recovered(), label="old"), snap(bad, label="new"))
    md, page = to_markdown(c), to_html(c)
    assert "| service-down | incident-response | recovered | not-recovered | **regressed** |" in md
    assert "\\| pipe" in md  # a pipe cannot break the Markdown table
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.count("<tr>") == 4  # two tables (verdicts, steps): a header and one row each
    assert "regressed" in page and "failed (exit 1)" in page


def test_nothing_changed_says_so():
    md = to_markdown(compare(snap(recovered()), snap(recovered())))
    assert "No verdict changed." in md
    assert "No TTD or TTR change beyond noise." in md
    assert "No step changed its status or exit code." in md


def test_verdict_enum_and_rank_table_agree():
    from harness.reports.regression import VERDICT_RANK

    assert set(VERDICT_RANK) == {v.value for v in Verdict}
    assert StepStatus.OK.value == "ok"


def test_a_second_finding_that_stopped_recovering_is_a_regression_though_the_verdict_held():
    old = undetected_with_finding()
    old.resolution_finding = Finding(Verdict.RECOVERED, "", ttr_s=14.0)
    new = undetected_with_finding()
    c = compare(snap(old), snap(new))
    assert c.verdicts == []  # undetected on both sides
    assert [(f.key[0], f.old, f.new, f.kind) for f in c.findings] == [
        ("llm-quota", "recovered", "not-recovered", "regressed")
    ]
    assert c.regressed == c.findings
    md, page = to_markdown(c), to_html(c)
    assert "## Second findings (the resolution after a missed detection)" in md
    assert "| llm-quota | incident-response | recovered | not-recovered | **regressed** |" in md
    assert "export reaches only the operator" in md
    assert "Second findings" in page and "export reaches only the operator" in page


def test_a_finding_that_went_away_because_detection_caught_up_is_no_regression():
    c = compare(snap(undetected_with_finding()), snap(recovered("llm-quota")))
    assert [(f.old, f.new, f.kind) for f in c.findings] == [("not-recovered", None, "missing")]
    assert [v.kind for v in c.regressed] == []
    assert [(v.old, v.new, v.kind) for v in c.verdicts] == [("undetected", "recovered", "fixed")]


def test_the_verdict_table_shows_the_second_finding_next_to_the_verdict():
    c = compare(snap(recovered("llm-quota")), snap(undetected_with_finding()))
    md = to_markdown(c)
    assert "| recovered | undetected (resolution: not-recovered) | **regressed** |" in md


def test_recovered_after_lift_replacing_recovered_is_a_regression():
    c = compare(snap(recovered("database-link-cut")), snap(after_lift()))
    assert [(v.old, v.new, v.kind) for v in c.verdicts] == [
        ("recovered", "recovered-after-lift", "regressed")
    ]


def test_a_baseline_that_pins_the_second_finding_is_compared_with_the_runs(tmp_path):
    baseline = tmp_path / "incident-response.baseline.json"
    baseline.write_text(
        json.dumps(
            {
                "scenarios": {
                    "llm-quota": {
                        "verdict": "undetected",
                        "resolution": "recovered",
                        "why": "the fallback recovers once the incident is declared",
                    }
                }
            }
        )
    )
    run = write_run(tmp_path / "run", [undetected_with_finding()])
    c = compare(load_snapshot(baseline), load_snapshot(run))
    assert c.verdicts == []
    assert [(f.old, f.new, f.kind) for f in c.findings] == [
        ("recovered", "not-recovered", "regressed")
    ]
    assert c.regressed == c.findings


def _on(runbook, *results):
    return [replace(r, runbook=f"runbooks/{runbook}.md") for r in results]


def test_a_run_of_an_edited_copy_is_paired_with_the_shipped_runbook():
    old = snap(*_on("incident-response", recovered(), not_recovered("high-error-rate")))
    new = snap(*_on("my-edit", recovered(), recovered("high-error-rate")))
    c = compare(old, new)
    assert c.pairs == {"incident-response": "my-edit"}
    assert c.compared == 2 and not c.not_compared and not c.regressed
    assert [(v.key, v.kind) for v in c.verdicts] == [
        (("high-error-rate", "incident-response"), "fixed")
    ]
    md = to_markdown(c)
    assert "2 scenario(s) on both sides; 0 regression(s), 1 fix(es)" in md
    assert "**Runbooks paired**: `incident-response` → `my-edit`" in md
    assert "| high-error-rate | incident-response → my-edit |" in md


def test_explicit_pairs_when_a_side_ran_several_runbooks():
    old = snap(*_on("a", recovered()), *_on("b", recovered()))
    new = snap(*_on("a2", not_recovered()), *_on("b2", recovered()))
    assert compare(old, new).compared == 0  # nothing pairs by itself
    c = compare(old, new, parse_pairs(["a.md=a2.md", "b=b2"]))
    assert c.compared == 2
    assert [(v.key, v.kind) for v in c.regressed] == [(("service-down", "a"), "regressed")]


def test_a_scenario_run_on_one_side_only_is_not_compared_never_a_regression():
    old = snap(recovered(), recovered("redis-down"))
    new = snap(recovered(), recovered("llm-quota"))
    c = compare(old, new)
    assert not c.regressed
    assert sorted((v.key[0], v.kind) for v in c.not_compared) == [
        ("llm-quota", "new"),
        ("redis-down", "missing"),
    ]
    md = to_markdown(c)
    assert "1 scenario(s) on both sides; 0 regression(s), 0 fix(es); 2 not compared" in md
    assert "## Not compared (run on one side only)" in md
    assert "| redis-down | incident-response | the old run only |" in md
    assert "Not compared (run on one side only)" in to_html(c)


@pytest.mark.parametrize("value", ["a", "=b", "a="])
def test_a_malformed_pair_is_bad_input(value):
    with pytest.raises(BadInput, match="expected OLD=NEW"):
        parse_pairs([value])


def test_a_pair_naming_a_runbook_that_did_not_run_is_bad_input():
    with pytest.raises(BadInput, match="no runbook 'nope' in the old run"):
        compare(snap(recovered()), snap(recovered()), {"nope": "incident-response"})
