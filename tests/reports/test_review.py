"""Post-incident review: the runbook's own template, filled from the GamedayResult."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from harness.reports.review import (
    COMMANDER,
    DEFAULT_TEMPLATE,
    load_template,
    render_review,
    review_filename,
    template_from_runbook,
    write_reviews,
)
from harness.runbook.parse import parse_runbook

from .factories import (
    API_REAL,
    REDIS_CURL,
    after_lift,
    not_recovered,
    recovered,
    undetected_with_finding,
)

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "incident-response.md"


def headings(markdown: str) -> list[str]:
    return [
        ln for ln in markdown.splitlines() if re.match(r"#{1,3} ", ln) and "Template:" not in ln
    ]


def runbook_template() -> str:
    template = template_from_runbook(parse_runbook(RUNBOOK))
    assert template is not None
    return template


def test_the_template_is_read_from_the_runbooks_post_incident_review_block():
    template = runbook_template()
    assert template.startswith("# Template: docs/post-incident-reports/YYYY-MM-DD-{incident-id}.md")
    assert headings(template) == headings(DEFAULT_TEMPLATE)  # the fallback is the same template


def test_the_review_keeps_the_templates_headings_in_order_and_fills_every_placeholder():
    template = runbook_template()
    review = render_review(recovered(), template)
    expected = [
        h.replace(
            "{Incident Title}",
            "TestGen API killed (SIGKILL through the engine), stays down (gameday service-down)",
        )
        for h in headings(template)
    ]
    assert headings(review) == expected
    assert not re.search(r"\{[A-Za-z][^}]*\}", review), review


def test_the_summary_and_impact_come_from_the_record():
    review = render_review(recovered(), runbook_template())
    assert "- **Date**: 2026-11-26" in review
    assert "- **Duration**: 17:47:34 - 17:47:34 UTC (0.57 s)" in review
    assert "- **Severity**: SEV-1 (declared by the runbook; measured impact: SEV-2)" in review
    assert f"- **Incident Commander**: {COMMANDER}" in review
    assert "- **Requests Failed**: 20 of 40 during the incident (50%)" in review
    assert "- **Revenue Impact**: n/a in a gameday" in review
    assert "- **Gameday verdict**: **recovered**" in review


def test_the_timeline_table_merges_events_and_steps_in_time_order():
    review = render_review(recovered(), runbook_template())
    table = review.split("## Timeline", 1)[1].split("\n## ", 1)[0].strip().splitlines()
    assert table[:2] == ["| Time | Event | Action Taken |", "|------|-------|--------------|"]
    events = [row.split("|")[2].strip() for row in table[2:]]
    assert (
        events.index("Fault injected")
        < events.index("Incident detected")
        < events.index("Service restored, recovery confirmed")
    )
    assert "Runbook line 69 (detect): failed, exit 7, showed the fault" in events
    assert "Runbook line 63 (resolve): ok, exit 0" in events
    # A `|` in a command is escaped, so every row keeps three cells.
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 4 for row in table), table


def test_root_cause_and_resolution():
    review = render_review(recovered(), runbook_template())
    root = review.split("## Root Cause", 1)[1].split("## ", 1)[0]
    assert "The testgen container was killed with SIGKILL through the engine." in root
    resolution = review.split("## Resolution", 1)[1].split("## ", 1)[0]
    assert "- Line 63: `docker-compose restart testgen` — ok, exit 0" in resolution
    assert "within the SEV-1 budget of 5 min 00 s" in resolution


def test_lessons_name_each_problem_once_and_action_items_carry_the_steps():
    result = not_recovered()
    result.noisy_steps = ["line 66: docker logs testgen-copilot --since 5m"]
    review = render_review(result, runbook_template())
    improve = review.split("### What Could Be Improved", 1)[1].split("## ", 1)[0]
    assert "The resolution steps did not bring the service back (not-recovered)" in improve
    assert "1 step(s) failed or were cut off" in improve
    assert "1 step(s) cannot run unattended" in improve
    assert "flip, on a healthy stack" in improve
    assert "after the resolution steps" not in improve.lower()  # the reason is the Summary's
    actions = review.split("## Action Items", 1)[1].split("## ", 1)[0].strip().splitlines()
    assert all(
        a.startswith("- [ ] ") and a.endswith(" - Assigned to runbook owners - Due next gameday")
        for a in actions
    ), actions
    assert len(actions) == 4  # the section, line 63, line 74, the noisy step
    text = "\n".join(actions)
    assert "Fix line 63 `docker-compose restart testgen` (resolve): it exited 1" in text
    assert "Automate or replace line 74 `ping prometheus # Prometheus`" in text
    assert "Line 69" not in improve and "line 69" not in text  # a detection step failing works


def test_the_file_is_named_by_the_templates_pattern(tmp_path):
    assert review_filename(recovered(), runbook_template()) == (
        "2026-11-26-gameday-service-down-incident-response.md"
    )
    [path] = write_reviews([recovered(runbook=str(RUNBOOK))], tmp_path)
    assert path.name == "2026-11-26-gameday-service-down-incident-response.md"
    assert f"template: {RUNBOOK}" in path.read_text()


def test_a_changed_template_changes_the_review():
    template = (
        DEFAULT_TEMPLATE.replace(
            "- **Incident Commander**: {Name}",
            "- **Incident Commander**: {Name}\n- **Customer Comms**: {Link}",
        )
        + "\n## Appendix\nKeep this text.\n"
    )
    review = render_review(recovered(), template)
    assert "- **Customer Comms**: n/a in a gameday" in review
    assert "## Appendix\nKeep this text." in review


def test_an_unreadable_runbook_falls_back_to_the_shipped_template(tmp_path):
    template, source = load_template(tmp_path / "missing.md")
    assert template == DEFAULT_TEMPLATE
    assert "runbook not readable" in source


def section(review: str, heading: str) -> str:
    return review.split(heading, 1)[1].split("\n#", 1)[0]


def test_an_undetected_gameday_lasts_as_long_as_it_really_ran():
    review = render_review(undetected_with_finding(), runbook_template())
    # From t0 to the verdict after the 10 s window and the resolution: not the 0.35 s
    # between t0 and the last event before the first detection poll.
    duration = "17:52:11 - 17:52:36 UTC (25.2 s, the service not back when the gameday ended)"
    assert f"- **Duration**: {duration}" in review


def test_multi_line_commands_are_one_line_without_a_trailing_backslash():
    review = render_review(undetected_with_finding(), runbook_template())
    assert '`curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/usage`' in (
        review
    )
    assert "\\`" not in review and "\\\\" not in review


def test_the_second_finding_is_in_the_summary_the_resolution_and_the_action_items():
    review = render_review(undetected_with_finding(), runbook_template())
    finding = "**not-recovered** — testgen still runs with PRIMARY_LLM_PROVIDER=openai"
    assert f"- **Second finding (resolution)**: {finding}" in section(review, "## Summary")
    assert "they ended **not-recovered**" in section(review, "## Resolution")
    # Said once: the finding's reason is in the Summary only.
    assert review.count("PRIMARY_LLM_PROVIDER=openai") == 1
    actions = section(review, "## Action Items")
    assert "Fix the resolution steps of" in actions and "gave not-recovered" in actions
    assert "detection step that notices this fault" in actions
    assert "- **Not checked**: the memory limit (not enforced on this machine)" in review


def test_what_went_well_never_credits_steps_that_made_no_difference():
    # Recovered only after the lift: the restart ran fine and changed nothing.
    well = section(render_review(after_lift(), runbook_template()), "### What Went Well")
    assert "resolution step" not in well
    assert "Recovered within" not in well
    # Undetected: no detector to credit; its resolution did not recover either.
    well = section(
        render_review(undetected_with_finding(), runbook_template()), "### What Went Well"
    )
    assert "Detected" not in well and "resolution step" not in well
    # Recovered by the runbook: its steps are credited.
    well = section(render_review(recovered(), runbook_template()), "### What Went Well")
    assert "1 of 1 resolution step(s) ran as written and succeeded" in well
    assert "Detected in 0.08 s by runbook line 69" in well


def test_a_detection_step_failing_at_baseline_is_never_credited():
    result = recovered()
    detector = next(s for s in result.steps if s.detected)
    result.baseline_failing_steps = [f"line {detector.line}: {detector.command}"]
    review = render_review(result, runbook_template())
    assert "Detected" not in section(review, "### What Went Well")
    improve = section(review, "### What Could Be Improved")
    assert "fail, or flip, on a healthy stack" in improve
    assert "showed the fault" not in section(review, "## Timeline")
    actions = section(review, "## Action Items")
    assert f"Fix line {detector.line} `{detector.command}`: it fails on a healthy stack" in actions


def test_baseline_failing_steps_of_an_undetected_gameday_are_named_for_the_author():
    review = render_review(undetected_with_finding(), runbook_template())
    assert f"Fix line 88 `{REDIS_CURL}`: it fails on a healthy stack (exit 52)" in review
    assert "Detection steps that fail, or flip" in section(review, "### What Could Be Improved")


def test_recovered_after_lift_says_the_runbook_did_not_restore_service():
    review = render_review(after_lift(), runbook_template())
    resolution = section(review, "## Resolution")
    assert "only once the fault was lifted: the runbook's steps did not restore it" in resolution
    assert "(self-healed once the fault was lifted; the runbook's steps did not restore " in (
        section(review, "## Summary")
    )
    assert "Recovery confirmed 10.3 s after the fault, once steady state had held 3.00 s" in (
        resolution
    )
    assert "the fault was gone" in section(review, "## Root Cause")


def test_the_stacks_addresses_are_shown_by_their_production_names():
    result = undetected_with_finding()
    result.reason = f"health refused: curl: (7) Failed to connect to 127.0.0.1 port {API_REAL[-5:]}"
    result.notes = [f"API at http://{API_REAL}/health"]
    review = render_review(result, runbook_template())
    assert "Failed to connect to localhost port 8000" in review
    assert "API at http://localhost:8000/health" in review
    assert API_REAL[-5:] not in review


def test_each_thing_is_said_once_in_words_not_event_kinds():
    from .factories import data_loss

    result = not_recovered()
    review = render_review(result, runbook_template())
    assert "not recovered (not-recovered)" not in review
    first_clause = result.reason.split(";")[0][:40].lower()
    assert review.lower().count(first_clause) == 1  # the reason: in the Summary only
    loss = render_review(data_loss(), runbook_template())
    assert "data-destroyed" not in loss
    assert "| Acknowledged data destroyed |" in loss


def test_the_performance_finding_does_not_repeat_its_sentence():
    from .factories import after_lift

    result = undetected_with_finding("performance")
    lifted = after_lift()
    result.resolution_finding = replace(
        result.resolution_finding, verdict=lifted.verdict, reason=lifted.reason
    )
    review = render_review(result, runbook_template())
    assert review.lower().count("self-healed") == 1


def test_a_manual_steps_reason_and_the_detector_are_each_given_once():
    review = render_review(recovered(), runbook_template())
    reason = next(s.manual_reason for s in recovered().steps if s.manual_reason)
    assert review.count(reason) == 1  # in its action item
    assert section(review, "## Timeline").count("by runbook line 69") == 1
    assert "detected the fault in" not in section(review, "## Follow-up")
