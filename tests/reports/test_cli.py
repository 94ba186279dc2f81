"""The `gameday` command: diff, history, review, and bad input (one line, exit status 2)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.reports.json_results import RunInfo, write_run

from .factories import not_recovered, recovered

REPO = Path(__file__).resolve().parents[2]
MALFORMED = REPO / "tests" / "runbook" / "malformed"


@pytest.fixture
def gameday(capsys):
    """Run the console script's main() in this process: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def stored_runs(tmp_path: Path) -> tuple[Path, Path]:
    """Two nightly runs of three scenarios; only service-crash changed verdict."""
    old = [recovered("service-down"), recovered("service-crash"), not_recovered("llm-quota")]
    new = [recovered("service-down"), not_recovered("service-crash"), not_recovered("llm-quota")]
    a = write_run(
        tmp_path / "night-1", old, RunInfo.now(old, started_at="2026-11-25T02:00:00+00:00")
    )
    b = write_run(
        tmp_path / "night-2", new, RunInfo.now(new, started_at="2026-11-26T02:00:00+00:00")
    )
    return a, b


def test_diff_of_two_stored_runs_reports_exactly_the_changed_verdict(tmp_path):
    a, b = stored_runs(tmp_path)
    html = tmp_path / "diff.html"
    proc = subprocess.run(
        ["gameday", "diff", str(a), str(b), "--html", str(html)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr  # a regression
    verdicts = proc.stdout.split("## Verdicts", 1)[1].split("## ", 1)[0]
    rows = [ln for ln in verdicts.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    assert len(rows) == 1, verdicts
    assert rows[0].startswith(
        "| service-crash | incident-response | recovered | not-recovered | **regressed** |"
    )
    steps = proc.stdout.split("## Steps whose outcome changed", 1)[1]
    assert re.findall(r"^\| (\S+) .*$", steps, re.MULTILINE)[1:] == ["service-crash"]
    assert "regressed" in html.read_text()


def test_diff_without_regressions_exits_0(tmp_path, gameday):
    a, _ = stored_runs(tmp_path)
    code, out, _ = gameday("diff", str(a), str(a.parent))
    assert code == 0
    assert "No verdict changed." in out


def test_history_prints_the_trend_and_writes_the_picture(tmp_path, gameday):
    stored_runs(tmp_path)
    code, out, _ = gameday("history", str(tmp_path))
    assert code == 0
    assert "| night-2 |" in out and "✗ not-recovered" in out
    assert (tmp_path / "history.svg").exists() and (tmp_path / "history.md").exists()


def test_review_writes_one_file_per_result(tmp_path, gameday):
    a, _ = stored_runs(tmp_path)
    code, out, _ = gameday(
        "review",
        str(a),
        "--out",
        str(tmp_path / "reviews"),
        "--runbook",
        str(REPO / "runbooks" / "incident-response.md"),
    )
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "reviews").iterdir())
    assert written == [
        "2026-11-26-gameday-llm-quota-incident-response.md",
        "2026-11-26-gameday-service-crash-incident-response.md",
        "2026-11-26-gameday-service-down-incident-response.md",
    ]
    assert len(out.splitlines()) == 3


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "not.json").write_text("{nope")
    (tmp / "v9").mkdir()
    (tmp / "v9" / "results.json").write_text(
        json.dumps({"schema_version": 9, "run": {}, "results": []})
    )
    (tmp / "bad.yml").write_text("services: [")
    ok = write_run(tmp / "ok", [recovered()])
    return [
        ([], "the following arguments are required: command"),
        (["frobnicate"], "invalid choice"),
        (["run", "--scenario", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "--runbook", str(tmp / "missing.md")], "no such runbook"),
        (["run", "--runbook", str(MALFORMED / "duplicate_sev.md")], "duplicate severity SEV-1"),
        (["run", "--backend", "kubernetes"], "--backend must be one of"),
        (["run", "--compose", str(tmp / "bad.yml")], "not valid YAML"),
        (["diff", str(tmp / "missing.json"), str(ok)], "no such results file"),
        (["diff", str(tmp / "not.json"), str(ok)], "not JSON"),
        (["diff", str(ok), str(tmp / "v9")], "results schema_version 9"),
        (["history", str(tmp / "nowhere")], "no such directory"),
        (["history", str(tmp / "v9")], "results schema_version 9"),
        (["lint", str(tmp / "missing.md")], "no such runbook"),
        (["lint", str(MALFORMED / "empty.md")], "empty"),
        (
            [
                "lint",
                str(REPO / "runbooks" / "incident-response.md"),
                "--compose",
                str(tmp / "bad.yml"),
            ],
            "not valid YAML",
        ),
        (["review", str(tmp / "not.json"), "--out", str(tmp / "r")], "not JSON"),
        (
            ["review", str(ok), "--out", str(tmp / "r"), "--runbook", str(MALFORMED / "empty.md")],
            "empty",
        ),
    ]


def test_bad_input_is_one_line_on_stderr_and_exit_status_2_before_anything_starts(
    tmp_path, gameday
):
    for args, message in _bad_inputs(tmp_path):
        out_dir = tmp_path / "out"
        code, out, err = gameday(*args, *(["--out", str(out_dir)] if args[:1] == ["run"] else []))
        assert code == 2, (args, out, err)
        assert len(err.splitlines()) == 1 and err.endswith("\n"), (args, err)
        assert message in err, (args, err)
        assert out == "", (args, out)
        assert not out_dir.exists(), args  # nothing was started, not even the output directory


def test_the_console_script_is_installed():
    proc = subprocess.run(["gameday", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("run", "diff", "history", "lint", "review"):
        assert command in proc.stdout


@pytest.mark.parametrize("argv", [["run", "--scenario", "nope"], ["lint", "missing.md"]])
def test_bad_input_through_the_real_console_script(argv, tmp_path):
    proc = subprocess.run(
        ["gameday", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stdout == ""


def test_diff_pairs_an_edited_copy_and_takes_explicit_pairs(tmp_path, gameday):
    from dataclasses import replace

    old = [recovered("service-down"), not_recovered("llm-quota")]
    new = [
        replace(r, runbook="runbooks/my-edit.md")
        for r in (recovered("service-down"), recovered("llm-quota"))
    ]
    a = write_run(tmp_path / "a", old, RunInfo.now(old))
    b = write_run(tmp_path / "b", new, RunInfo.now(new))
    code, out, _ = gameday("diff", str(a), str(b))
    assert code == 0
    assert "2 scenario(s) on both sides; 0 regression(s), 1 fix(es)" in out
    code, out, _ = gameday("diff", str(a), str(b), "--pair", "incident-response.md=my-edit.md")
    assert code == 0 and "Runbooks paired" in out
    code, _, err = gameday("diff", str(a), str(b), "--pair", "nope=my-edit")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no runbook 'nope'" in err


def test_run_with_history_exits_1_on_a_regression_against_the_previous_run(tmp_path):
    """A real run (fake backend) of the shipped runbook's high-error-rate, which ends
    not-recovered, against a history whose previous run recovered it."""
    from dataclasses import replace

    shipped = str(REPO / "runbooks" / "incident-response.md")
    before = [replace(recovered("high-error-rate"), runbook=shipped)]
    history = tmp_path / "history"
    write_run(
        history / "20261101T031700",
        before,
        RunInfo.now(before, started_at="2026-11-01T03:17:00+00:00"),
    )
    proc = subprocess.run(
        ["gameday", "run", "--backend", "fake", "--scenario", "high-error-rate",
         "--runbook", shipped, "--out", str(tmp_path / "out"), "--history", str(history)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 regression(s) against 20261101T031700" in proc.stdout
    [summary] = [p for p in history.glob("*/exercise.md")]
    text = summary.read_text()
    assert "not-recovered (was recovered)" in text
    assert "line " in text.split("## New defects", 1)[1].split("## ", 1)[0]  # the step
