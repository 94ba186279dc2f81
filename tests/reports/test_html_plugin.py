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

from harness.reports.html_plugin import SummaryRow, result_html, step_table, summary_html
from harness.result import StepStatus

from .factories import not_recovered, recovered, step


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


INNER_CONFTEST = """
from harness.reports import html_plugin

def pytest_configure(config):
    html_plugin.register(config)  # what harness.plugin does when pytest_html is importable
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
