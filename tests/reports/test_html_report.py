"""The standalone report.html: rendered from a Run alone, opening on the scorecard."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from harness.reports.html import render_html, render_page
from harness.reports.json_results import Run, RunInfo, read_run, write_run
from harness.reports.registry import render_reports, report_kinds
from harness.reports.scorecard import expectation_word, tonight_line
from harness.result import Verdict

from .factories import (
    API_REAL,
    data_loss,
    not_recovered,
    recovered,
    suite_run,
    undetected_with_finding,
)


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    """Two runbooks; the shipped one's baseline pins every known defect but one."""
    (tmp_path / "incident-response.md").write_text("# runbook\n")
    (tmp_path / "fixed.md").write_text("# runbook\n")
    pinned = {
        f"scenario-{i:02d}-" + "x" * (i % 4) + "-incident": {"verdict": verdict, "why": "known"}
        for i, verdict in enumerate(
            ["data-loss", "not-recovered", "undetected", "recovered-after-lift", "recovered"] * 3
        )
        if verdict != "recovered" and i != 1  # scenario 01 (not-recovered) is not pinned
    }
    (tmp_path / "incident-response.baseline.json").write_text(json.dumps({"scenarios": pinned}))
    return tmp_path


def run_of(results, **info) -> Run:
    return Run(RunInfo.now(results, backend="local", **info), results)


def test_the_report_is_registered_and_written_from_results_json_alone(runbooks, tmp_path):
    assert report_kinds()["html"].default == "report.html"
    assert report_kinds()["reviews"].default == "reviews"
    path = write_run(tmp_path / "out", suite_run(str(runbooks)))
    [outcome] = render_reports(read_run(path), {"html": tmp_path / "out" / "report.html"})
    assert outcome.error is None and outcome.written
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "pytest" not in page.lower()


def test_the_scorecard_comes_first_with_each_runbooks_tonight_line(runbooks):
    page = render_page(run_of(suite_run(str(runbooks))))
    assert page.index("gd-scorecard") < page.index("gd-result")
    tonight = re.findall(r'<div class="tonight gd-tonight">([^<]*)</div>', page)
    lead = "2 of 13 incidents recovered by the runbook&#x27;s steps; 11 defects"
    assert tonight[0].startswith(lead)
    assert "(3 data loss)" in tonight[0] and "1 regression" in tonight[0]
    assert tonight[1].startswith("13 of 13 incidents recovered")
    # Scenarios in rows, worst first: the regression leads, then the data losses.
    rows = re.findall(r'<tr class="gd-score-row"><td[^>]*><code>([^<]*)</code>', page)
    assert rows[0] == "scenario-01-x-incident"  # not pinned: a regression
    assert rows[1:4] == [
        "scenario-00--incident",
        "scenario-05-x-incident",
        "scenario-10-xx-incident",
    ]
    assert len(rows) == 13


def test_a_cell_holds_the_verdict_its_second_finding_and_the_expectation(runbooks):
    page = render_page(run_of(suite_run(str(runbooks))))
    row = re.search(
        r'<tr class="gd-score-row"><td[^>]*><code>scenario-02-xx-incident.*?</tr>', page
    ).group(0)
    cells = re.findall(r"<td class=\"cell\".*?</td>", row)
    assert ">undetected<" in cells[0] and ">not-recovered<" in cells[0]  # the second finding
    assert "as expected" in cells[0]
    assert 'href="#gd-scenario-02-xx-incident--incident-response"' in cells[0]


def test_words_are_as_expected_or_regression_never_passed(runbooks):
    page = render_page(run_of(suite_run(str(runbooks))))
    assert "Passed" not in page and "passed" not in page
    loss = re.search(
        r'<section class="gameday[^>]*id="gd-scenario-00--incident--'
        r'incident-response"[^>]*data-word="([^"]*)"',
        page,
    )
    assert loss.group(1) == "as expected"
    regression = re.search(
        r'id="gd-scenario-01-x-incident--incident-response"[^>]*'
        r'data-word="([^"]*)"',
        page,
    )
    assert regression.group(1) == "regression"


def test_blocks_go_worst_first_and_collapse_only_when_as_expected(runbooks):
    page = render_page(run_of(suite_run(str(runbooks))))
    blocks = re.findall(
        r'<section class="gameday gd-result" id="([^"]*)".*?data-word="([^"]*)"'
        r".*?<details( open)?>",
        page,
    )
    assert blocks[0][0] == "gd-scenario-01-x-incident--incident-response"
    assert blocks[0][2] == " open"  # the regression is open
    assert all((opened == "") == (word == "as expected") for _, word, opened in blocks)


def test_the_reason_is_a_sentence_above_the_details(runbooks):
    result = replace(undetected_with_finding(), runbook=str(runbooks / "incident-response.md"))
    page = render_page(run_of([result]))
    block = page[page.index('<section class="gameday') :]
    reason = block.index('class="reason gd-reason"')
    assert reason < block.index("<details")
    assert block.index("Not checked by this verdict") < block.index("<details")
    assert block.index("gd-steps") < block.index("gameday-timeline")  # steps, then timeline


def test_addresses_are_the_stacks_names_never_loopback_ports_or_reprs(runbooks):
    result = replace(
        not_recovered(),
        address_map={API_REAL: "localhost:8000"},
        runbook=str(runbooks / "incident-response.md"),
        reason=f"/ready answered 503: redis error: Error while reading from {API_REAL} : "
        "(104, 'Connection reset by peer'); port 30702 on 127.0.0.1 is in use",
    )
    page = render_page(run_of([result]))
    assert API_REAL not in page and "127.0.0.1" not in page
    assert "(104, " not in page and "&#x27;Connection reset by peer&#x27;" not in page
    assert "localhost:8000: connection reset by peer" in page
    assert "a stack port is in use" in page  # a port the record's map does not name


def test_drift_and_stand_ins_are_sections_when_the_record_has_them(runbooks):
    run = run_of([replace(recovered(), runbook=str(runbooks / "fixed.md"))])
    assert "Drift against the deployment" not in render_page(run)
    run.info.drift = [{"service": "redis", "finding": "requirepass differs"}]  # type: ignore[attr-defined]
    run.info.stand_ins = [{"name": "TestGen API", "reason": "the deployment runs no server"}]  # type: ignore[attr-defined]
    page = render_page(run)
    assert "<h2>Drift against the deployment</h2>" in page and "requirepass differs" in page
    assert "<h2>Stand-ins and why</h2>" in page and "the deployment runs no server" in page


def test_tonight_line_counts_defects_and_data_loss():
    results = [recovered(), not_recovered(), data_loss()]
    assert tonight_line(results).startswith(
        "1 of 3 incidents recovered by the runbook's steps; 2 defects (1 data loss)"
    )


def test_an_unknown_expectation_claims_nothing(tmp_path):
    result = replace(not_recovered(), runbook=str(tmp_path / "gone.md"))
    assert expectation_word(result) == ""
    assert result.verdict == Verdict.NOT_RECOVERED


def test_render_html_writes_the_file_whole(runbooks, tmp_path):
    target = tmp_path / "deep" / "report.html"
    assert render_html(run_of(suite_run(str(runbooks), 3)), target) == [target]
    assert target.read_text().rstrip().endswith("</html>")


def test_a_drift_report_is_a_table_of_findings(runbooks):
    run = run_of([replace(recovered(), runbook=str(runbooks / "fixed.md"))])
    run.info.drift = {
        "schema_version": 1,
        "deployment": "deployments/testgen-head",
        "counts": {"destroys data": 1},
        "findings": [
            {
                "rule": "down-v",
                "effect": "destroys data",
                "message": "`docker-compose down -v` removes the pgdata volume",
                "runbook": [
                    {
                        "path": "runbooks/incident-response.md",
                        "line": 191,
                        "section": "Scenario 1",
                        "command": "docker-compose down -v",
                    }
                ],
                "deployment": [
                    {
                        "path": "deployments/testgen-head/docker-compose.yml",
                        "line": 40,
                        "text": "pgdata:/var/lib/postgresql/data",
                    }
                ],
                "scenarios": ["wont-start-missing-variable"],
            }
        ],
    }
    page = render_page(run)
    section = page[page.index("<h2>Drift against the deployment</h2>") :]
    assert "1 destroys data" in section
    assert "incident-response.md:191 <code>docker-compose down -v</code>" in section
    assert "docker-compose.yml:40" in section and "wont-start-missing-variable" in section


def test_the_step_that_destroyed_data_is_named_and_healthy_runs_are_folded(runbooks):
    result = replace(data_loss(), runbook=str(runbooks / "incident-response.md"))
    page = render_page(run_of([result]))
    incident = page.split('class="steps gd-steps">', 1)[1].split("</table>", 1)[0]
    row = next(r for r in incident.split("<tr") if "docker-compose down -v" in r)
    assert "destroyed acknowledged data" in row
    assert "steady-state" not in incident  # the negative control is folded below
    assert "runs on the healthy stack before the fault" in page
