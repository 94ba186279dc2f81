"""Every report is a function of results.json: `gameday report` re-renders the JUnit XML, the
HTML report and the reviews from it; a failing writer loses only its own file and says so in
one line; an output path that cannot be written stops `gameday run` before anything starts."""

from __future__ import annotations

import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reports.factories import not_recovered, recovered
from trust.support import REPO, checkout_env

from harness.cli import main
from harness.reports import registry
from harness.reports.json_results import RunInfo, write_run

FIXED = str(REPO / "runbooks" / "incident-response.fixed.md")


def _results(tmp_path: Path) -> Path:
    """A results.json of two gamedays: one as expected, one not (recovered expected)."""
    results = [recovered(runbook=FIXED), not_recovered("database-down", runbook=FIXED)]
    info = RunInfo.now(results, [FIXED], "local")
    info.expected = {
        f"{r.scenario}--incident-response.fixed": {
            "verdict": "recovered", "resolution": None, "source": "test"}
        for r in results
    }  # fmt: skip
    return write_run(tmp_path / "run", results, info)


def test_report_re_renders_junit_html_and_reviews_from_results_json(tmp_path, capsys):
    path = _results(tmp_path)
    junit, html, reviews = tmp_path / "j.xml", tmp_path / "r.html", tmp_path / "reviews"
    code = main(["report", str(path), "--junit", str(junit), "--html", str(html),
                 "--reviews", str(reviews)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    cases = ET.parse(junit).getroot().findall(".//testcase")
    names = sorted(c.get("name") for c in cases)
    assert names == ["test_gameday[database-down-incident-response.fixed]",
                     "test_gameday[service-down-incident-response.fixed]"]  # fmt: skip
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["test_gameday[database-down-incident-response.fixed]"]
    page = html.read_text()
    assert "service-down" in page and "database-down" in page
    assert len(list(reviews.glob("*.md"))) == 2


def test_report_without_options_writes_the_default_reports_beside_results_json(tmp_path, capsys):
    path = _results(tmp_path)
    assert main(["report", str(path)]) == 0, capsys.readouterr().err
    assert (path.parent / "report.html").is_file()
    assert len(list((path.parent / "reviews").glob("*.md"))) == 2


def test_a_failing_writer_loses_only_its_own_file_and_says_so_in_one_line(
    tmp_path, capsys, monkeypatch
):
    def boom(run: object, target: Path) -> list[Path]:
        raise OSError(28, "No space left on device")

    kinds = registry.report_kinds()
    monkeypatch.setitem(registry._KINDS, "boom", registry.ReportKind(
        "boom", "--boom", None, "a writer that fails", boom))  # fmt: skip
    assert "boom" not in kinds  # the test's own kind
    path = _results(tmp_path)
    junit = tmp_path / "j.xml"
    code = main(["report", str(path), "--junit", str(junit), "--boom", str(tmp_path / "b")])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(err) == 1 and "boom" in err[0] and "No space left on device" in err[0], err
    assert ET.parse(junit).getroot().findall(".//testcase")


def test_an_unwritable_junitxml_exits_2_in_one_line_before_anything_starts(tmp_path):
    stacks = Path(tempfile.mkdtemp(prefix="gd-junit-"))  # where a stack would leave its dirs
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        ["gameday", "run", "--backend", "local", "--scenario", "service-down", "--out",
         str(out), "--junitxml", str(blocker / "junit.xml")],
        capture_output=True, text=True, cwd=tmp_path, env=checkout_env(TMPDIR=str(stacks)),
        timeout=120,
    )  # fmt: skip
    try:
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert proc.stdout == ""
        [line] = proc.stderr.splitlines()
        assert str(blocker) in line and "junit" in line, line
        assert not (out / "results.json").exists()
        assert not list(stacks.iterdir())  # no stack was started
    finally:
        import shutil

        shutil.rmtree(stacks, ignore_errors=True)


@pytest.mark.parametrize("option", ["--html", "--junit"])
def test_report_refuses_a_directory_as_a_file_target_in_one_line(tmp_path, capsys, option):
    path = _results(tmp_path)
    assert main(["report", str(path), option, str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
