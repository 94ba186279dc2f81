"""A scenario added in a data file alone (no Python) runs, in `gameday run` and in
`pytest -m gameday`, selected by `--scenario` among every other scenario."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live  # starts the stack's real processes

REPO = Path(__file__).resolve().parents[2]

# A copy of a fast built-in scenario (service-down) under a new id, in the runbook's own file.
TEAM_SCENARIOS = """\
[[scenario]]
id = "team-service-down"
title = "The team's copy of service-down"
section = "Service Down (SEV-1)"
severity = 1
fault = { kind = "service-killed", service = "testgen" }
"""


def _team_runbook(tmp_path: Path) -> Path:
    runbook = tmp_path / "team.md"
    shutil.copy(REPO / "runbooks" / "incident-response.fixed.md", runbook)
    (tmp_path / "team.scenarios.toml").write_text(TEAM_SCENARIOS)
    return runbook


def test_gameday_run_runs_a_scenario_declared_only_in_data(tmp_path):
    runbook, out = _team_runbook(tmp_path), tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--runbook", str(runbook),
         "--scenario", "team-service-down", "--backend", "local", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())["results"]
    assert [(r["scenario"], r["verdict"]) for r in results] == [("team-service-down", "recovered")]
    line = next(x for x in proc.stdout.splitlines() if "team-service-down" in x)
    assert "recovered" in line, proc.stdout  # the terminal's line for it says so too


def test_pytest_m_gameday_runs_it_and_scenario_selects_exactly(tmp_path):
    runbook = _team_runbook(tmp_path)
    base = [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-m", "gameday",
            "-p", "no:randomly", "--runbook", str(runbook), "--backend", "local"]  # fmt: skip
    listed = subprocess.run(
        [*base, "--collect-only", "-q", "--scenario", "team-service-down",
         "--scenario", "database-link-cut"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    ids = [line.split("[", 1)[1].rstrip("]") for line in listed.stdout.splitlines() if "::" in line]
    # Exact ids: database-link-cut does not bring database-link-cut-never-lifted along.
    assert sorted(ids) == ["database-link-cut-team", "team-service-down-team"], listed.stdout
    ran = subprocess.run(
        [*base, "-q", "--scenario", "team-service-down"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "1 passed" in ran.stdout and "team-service-down: recovered" in ran.stdout
