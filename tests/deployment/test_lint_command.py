"""`gameday lint --deployment DIR RUNBOOK`: findings on the terminal, as JSON and Markdown;
exit 0 no drift, 1 drift, 2 bad input (one line, nothing started); the run record's `drift`
field and its `drift.md` report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.deployment.drift import drift_report
from harness.deployment.report import DriftReport
from harness.reports.drift import render_drift
from harness.reports.json_results import Run, RunInfo, read_run, write_run
from harness.reports.registry import report_kinds

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = str(REPO / "runbooks" / "incident-response.md")
HEAD = str(REPO / "deployments" / "testgen-head")


def gameday(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("fixture", ["testgen-head", "testgen-runbook-era", "renamed"])
def test_lint_prints_the_findings_and_exits_1_on_each_fixture(fixture: str) -> None:
    done = gameday(
        "lint", "--deployment", f"deployments/{fixture}", "runbooks/incident-response.md"
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("drift: runbooks/incident-response.md against deployments/")
    assert "runbook    runbooks/incident-response.md:" in done.stdout
    assert f"deployment deployments/{fixture}/docker-compose.yml:" in done.stdout


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("deployments/nope", "no such deployment directory"),
        ("deployments", "no compose file"),
    ],
)
def test_a_bad_deployment_dir_is_one_line_and_exit_2(where: str, why: str) -> None:
    done = gameday("lint", "--deployment", where, "runbooks/incident-response.md")
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.count("\n") == 1 and why in done.stderr


def test_json_output_follows_the_schema_and_reads_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--deployment", HEAD, RUNBOOK, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1 and data["drifted"] is True
    assert set(data) == {
        "schema_version",
        "deployment",
        "runbooks",
        "files",
        "drifted",
        "counts",
        "findings",
    }
    first = data["findings"][0]
    assert set(first) == {"rule", "effect", "message", "runbook", "deployment", "scenarios"}
    assert DriftReport.from_dict(data).to_dict() == data


def test_markdown_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--deployment", HEAD, RUNBOOK, "--markdown"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("# Drift: the runbook against the deployment")
    assert "| runbook | `" in out and "redis-noauth" in out


def test_no_drift_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: acme/app:1\n    container_name: app\n"
    )
    runbook = tmp_path / "rb.md"
    runbook.write_text(
        Path(RUNBOOK).read_text().split("## Incident Response Process")[0]
        + "## Common Incident Scenarios\n\n### Scenario 1: X\n\n**Resolution Steps**:\n"
        "```bash\ndocker logs app --tail 5\n```\n"
    )
    assert main(["lint", "--deployment", str(tmp_path), str(runbook)]) == 0
    assert "no drift" in capsys.readouterr().out


def test_the_run_record_carries_the_drift_and_drift_md_renders_it(tmp_path: Path) -> None:
    report = drift_report(HEAD, [RUNBOOK])
    path = write_run(tmp_path, [], RunInfo(runbooks=[RUNBOOK], drift=report.to_dict()))
    run = read_run(path)
    assert run.info.drift == report.to_dict()
    assert "drift" in report_kinds() and report_kinds()["drift"].default == "drift.md"
    written = render_drift(run, tmp_path / "drift.md")
    assert written == [tmp_path / "drift.md"]
    assert "no-server-on-port" in written[0].read_text()


def test_a_run_without_a_deployment_has_no_drift_field_and_no_drift_md(tmp_path: Path) -> None:
    path = write_run(tmp_path, [], RunInfo())
    assert "drift" not in json.loads(path.read_text())["run"]
    assert render_drift(Run(RunInfo(), []), tmp_path / "drift.md") == []
    assert not (tmp_path / "drift.md").exists()


def test_the_schema_doc_lists_every_rule() -> None:
    from harness.deployment.rules import RULES

    doc = (REPO / "docs" / "drift-schema.md").read_text()
    assert [r for r in RULES if f"| `{r}` |" not in doc] == []
