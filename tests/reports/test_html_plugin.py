"""pytest-html hooks: per gameday test its facts, timeline and step table; a summary on top."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from harness.reports.html_plugin import (
    NO_LOG,
    SummaryRow,
    environment,
    report_title,
    result_html,
    step_table,
    summary_html,
)
from harness.result import StepStatus

from .factories import (
    API_REAL,
    CURL_METER,
    after_lift,
    not_recovered,
    recovered,
    step,
    undetected_with_finding,
)


def test_the_step_table_has_every_column_and_one_row_per_step_run():
    result = recovered()
    table = step_table(result)
    headers = re.findall(r"<th>([^<]+)</th>", table)
    assert headers == [
        "phase",
        "line",
        "command",
        "role",
        "status",
        "exit",
        "output (excerpt)",
        "duration",
        "manual reason",
    ]
    assert table.count('<tr class="gd-step') == len(result.steps)
    assert "(healthy: 0)</span> <strong>detected</strong>" in table
    assert "`ping`: ICMP to hosts outside the gameday stack" in table


def test_a_failed_step_shows_its_error_output_first():
    result = not_recovered()
    row = [r for r in step_table(result).split("<tr") if ">63<" in r][0]
    assert "no such service: testgen" in row
    assert "gd-step-failed" in row


def test_the_result_block_has_verdict_figures_and_timeline():
    block = result_html(not_recovered())
    for text in (
        "not-recovered",
        "TTD",
        "TTR",
        "SEV-1: 5 min 00 s",
        "backend",
        "local",
        "requests failed during the incident",
        "acknowledged writes readable",
        "step line 63 `docker-compose restart testgen` exited 1",
    ):
        assert text in block, text
    assert block.count("<svg") == 1


def test_everything_from_the_record_is_html_escaped():
    result = recovered()
    result.reason = "<img src=x onerror=alert(1)>"
    result.notes = ["<b>bold</b>"]
    result.noisy_steps = ["line 1: <i>x</i>"]
    result.steps.append(
        step(
            "resolve",
            90,
            "echo '<script>alert(1)</script>'",
            StepStatus.FAILED,
            exit_code=1,
            stdout="<iframe>",
            stderr="</td></tr></table><marquee>",
            manual_reason=None,
            comment="<!-- c -->",
        )
    )
    result.title = "</h3><script>x</script>"
    block = result_html(result)
    summary = summary_html([SummaryRow('test_x[<a>"]', "failed", result)])
    for fragment in (block, summary):
        for raw in ("<script>", "<img", "<b>", "<i>", "<iframe>", "<marquee>"):
            assert raw not in fragment, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block


def test_the_summary_has_one_row_per_result_linking_to_its_test():
    rows = [
        SummaryRow("scenarios/t.py::test_a[rb]", "passed", recovered("service-down")),
        SummaryRow("scenarios/t.py::test_b[rb]", "failed", not_recovered("service-crash")),
    ]
    table = summary_html(rows)
    assert table.count('<tr class="gd-summary-row">') == 2
    assert 'href="#scenarios%2Ft.py%3A%3Atest_a%5Brb%5D"' in table
    assert ">yes<" in table and ">no (failed)<" in table


def _row(table: str, phase: str, line: int) -> str:
    rows = [r for r in table.split("<tr")[1:] if f'<td>{phase}</td><td class="num">{line}<' in r]
    assert len(rows) == 1, (phase, line)
    return rows[0]


def test_a_step_failing_on_the_healthy_stack_is_shown_as_failing_at_baseline():
    result = undetected_with_finding()
    table = step_table(result)
    row = _row(table, "steady-state", 88)
    assert "failing at baseline" in row and "gd-step-failing-at-baseline" in row
    assert ">failed<" not in row  # never a plain red "failed", as if the fault did it
    # The healthy step keeps its own status.
    assert ">ok<" in _row(table, "steady-state", 83)
    block = result_html(result)
    assert "failing at baseline</th>" in block and "fix these runbook steps" in block


def test_displayed_output_leaves_out_curls_progress_meter_but_the_record_keeps_it():
    result = undetected_with_finding()
    row = _row(step_table(result), "resolve", 98)
    assert "% Total" not in row and "--:--:--" not in row and "Dload" not in row
    assert "curl: (22) The requested URL returned error: 503" in row
    assert "% Total" in result.steps[-1].stderr  # display-only


def test_displayed_output_shows_the_stacks_addresses_by_their_production_names():
    result = undetected_with_finding()
    row = _row(step_table(result), "resolve", 98)
    assert "from localhost port 8000" in row
    assert "30441" not in result_html(result)
    assert API_REAL.split(":")[1] in result.steps[-1].stderr  # the record keeps the truth


def test_multi_line_commands_are_shown_on_one_line_without_the_continuation():
    row = _row(step_table(undetected_with_finding()), "detect", 83)
    assert "$OPENAI_API_KEY&quot; https://api.openai.com/v1/usage</code>" in row
    assert "\\" not in row


def test_recovered_after_lift_has_its_own_badge_and_says_what_it_means():
    block = result_html(after_lift())
    badges = re.findall(r'class="badge gd-verdict" style="background:(#[0-9a-f]+)">([^<]+)<', block)
    assert ("#00838f", "recovered-after-lift") in badges
    assert "#2e7d32" not in {c for c, _ in badges}  # never the recovered green
    assert (
        "self-healed once the fault was lifted; the runbook&#x27;s steps did not restore" in block
    )
    assert "first seen 7.35 s after t0; confirmed at 10.3 s after steady state held 3.00 s" in block
    assert "<strong>gone</strong> when recovery was judged" in block


def test_an_undetected_gameday_shows_its_second_finding_and_what_was_not_checked():
    result = undetected_with_finding()
    block = result_html(result)
    assert "second finding</th>" in block
    assert "resolution: " in block and "export reaches only the operator&#x27;s shell" in block
    # Prominent: above the facts table, not a footnote.
    unchecked = block.index('class="unchecked gd-unchecked"')
    assert unchecked < block.index('class="facts"')
    assert "the memory limit (not enforced on this machine)" in block[unchecked:]
    assert "<strong>still present</strong> when recovery was judged" in block
    summary = summary_html([SummaryRow("t::test_llm_quota[rb]", "passed", result)])
    assert "<th>second finding</th>" in summary and "<th>not checked</th>" in summary
    assert summary.count('class="badge gd-verdict"') == 2  # undetected, then not-recovered


def test_an_undetected_gameday_says_how_long_the_incident_really_ran():
    block = result_html(undetected_with_finding())
    assert "incident recorded for 25.2 s after t0" in block


def test_the_report_title_and_environment_name_runbooks_backend_and_harness():
    results = [recovered(), after_lift(), recovered(runbook="runbooks/incident-response.fixed.md")]
    assert report_title(results) == ("Gameday report — incident-response, incident-response.fixed")
    env = environment(results, {"Python": "3.11.7", "Plugins": {"html": "4.2.0"}})
    assert list(env)[:3] == ["Gameday backend", "Runbooks", "Gameday harness"]
    assert env["Gameday backend"] == "local"
    assert env["Runbooks"] == ("runbooks/incident-response.md, runbooks/incident-response.fixed.md")
    assert env["Python"] == "3.11.7"


INNER_CONFTEST = """
from harness.reports import html_plugin

def pytest_configure(config):
    html_plugin.register(config)  # what harness.suite.plugin does when pytest_html is importable
"""

INNER_TEST = """
import json, pathlib

RECORDS = json.loads(pathlib.Path(__file__).with_name("records.json").read_text())

def test_service_down(record_property):
    record_property("gameday", RECORDS[0])

def test_service_crash(record_property):
    record_property("gameday", RECORDS[1])
    assert False, "expected recovered, got not-recovered"

def test_not_a_gameday():
    pass
"""


def _report_tests(report: str) -> list[dict]:
    blob = re.search(r'data-jsonblob="([^"]*)"', report)
    assert blob, "pytest-html data blob not found"
    data = json.loads(html.unescape(blob.group(1)))
    return [t for tests in data["tests"].values() for t in tests]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_a_pytest_html_report_gets_the_summary_and_per_test_extras(tmp_path, workers):
    pytest.importorskip("pytest_html")
    if workers:
        pytest.importorskip("xdist")
    records = [
        recovered("service-down").to_dict(),
        replace(not_recovered("service-crash"), reason="<script>bad</script>").to_dict(),
    ]
    (tmp_path / "records.json").write_text(json.dumps(records))
    (tmp_path / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    report_path = tmp_path / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--html",
            str(report_path),
            "--self-contained-html",
            "-p",
            "no:gameday",  # the html plugin alone, registered by the conftest above
            *workers,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the one failing gameday
    report = report_path.read_text()

    summary = report.split('<div class="additional-summary prefix">', 1)[1].split("</div>\n", 1)[0]
    assert summary.count('<tr class="gd-summary-row">') == 2
    assert "service-down" in summary and "service-crash" in summary
    assert "<script>bad" not in report

    tests = {t["testId"].split("::")[-1]: t for t in _report_tests(report)}
    down = [
        e["content"] for e in tests["test_service_down"]["extras"] if e["format_type"] == "html"
    ]
    crash = [
        e["content"] for e in tests["test_service_crash"]["extras"] if e["format_type"] == "html"
    ]
    assert len(down) == 1 and len(crash) == 1
    assert 'class="gd-steps"' in down[0] and 'class="gameday-timeline"' in down[0]
    assert "not-recovered" in crash[0] and "&lt;script&gt;bad&lt;/script&gt;" in crash[0]
    assert not [e for e in tests["test_not_a_gameday"]["extras"] if e["format_type"] == "html"]

    # pytest-html's furniture, replaced where it would mislead a gameday reader.
    assert '<title id="head-title">Gameday report — incident-response</title>' in report
    env = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', report).group(1)))[
        "environment"
    ]
    assert env["Gameday backend"] == "local"
    assert env["Runbooks"] == "runbooks/incident-response.md"
    assert env["Gameday harness"]
    assert NO_LOG not in tests["test_service_down"]["log"]


def test_curls_progress_meter_is_stripped_and_a_body_written_between_updates_stays():
    from harness.reports._format import strip_progress_meter

    body_mid_meter = CURL_METER.replace("     0\r  0", '     0{"status":"ok"}\r  0', 1)
    assert strip_progress_meter(body_mid_meter + "curl: (7) refused\n") == (
        '{"status":"ok"}\ncurl: (7) refused\n'
    )
    finished = "\r100  1646  100  1646    0     0   172k      0 --:--:-- --:--:-- --:--:--  178k\n"
    assert strip_progress_meter(CURL_METER + finished).strip() == ""
    assert strip_progress_meter("####### 48.2%\r############### 100.0%\nbody\n") == "body\n"
    plain = "  % of requests failed: 12\nTotal 3\n"  # not a meter: kept as it is
    assert strip_progress_meter(plain) == plain


def test_addresses_are_mapped_in_both_shapes_tools_print_and_only_whole_ports():
    from harness.reports._format import map_addresses

    mapping = {API_REAL: "localhost:8000"}
    port = API_REAL.split(":")[1]
    assert map_addresses(f"Failed to connect to 127.0.0.1 port {port}: refused", mapping) == (
        "Failed to connect to localhost port 8000: refused"
    )
    assert map_addresses(f"GET http://localhost:{port}/health", mapping) == (
        "GET http://localhost:8000/health"
    )
    untouched = f"127.0.0.1:{port}9 10.127.0.0.1:{port} port {port}"
    assert map_addresses(untouched, mapping) == untouched
