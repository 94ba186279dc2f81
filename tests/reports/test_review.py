"""Post-incident review: the runbook's own template, filled from the GamedayResult."""

from __future__ import annotations

import re
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
from harness.runbook import parse_runbook

from .factories import not_recovered, recovered

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
    assert "- **Gameday verdict**: recovered" in review


def test_the_timeline_table_merges_events_and_steps_in_time_order():
    review = render_review(recovered(), runbook_template())
    table = review.split("## Timeline", 1)[1].split("\n## ", 1)[0].strip().splitlines()
    assert table[:2] == ["| Time | Event | Action Taken |", "|------|-------|--------------|"]
    events = [row.split("|")[2].strip() for row in table[2:]]
    assert (
        events.index("Fault injected")
        < events.index("Incident detected")
        < events.index("Service restored")
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


def test_lessons_and_action_items_name_failed_manual_and_noisy_steps_and_the_verdict():
    result = not_recovered()
    result.noisy_steps = ["line 66: docker logs testgen-copilot --since 5m"]
    review = render_review(result, runbook_template())
    improve = review.split("### What Could Be Improved", 1)[1].split("## ", 1)[0]
    assert "Verdict **not-recovered**: after the resolution steps" in improve
    assert "Line 63 `docker-compose restart testgen` (resolve) failed with exit 1" in improve
    assert "Line 74 `ping prometheus # Prometheus` cannot run unattended" in improve
    assert "Noisy detection step" in improve
    assert "Line 69" not in improve  # a detection step failing is it doing its job
    actions = review.split("## Action Items", 1)[1].split("## ", 1)[0].strip().splitlines()
    assert all(
        a.startswith("- [ ] ") and a.endswith(" - Assigned to runbook owners - Due next gameday")
        for a in actions
    ), actions
    assert len(actions) == 4  # the section, line 63, line 74, the noisy step


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
