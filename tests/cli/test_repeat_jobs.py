"""`gameday repeat N -j J`: a round's gamedays J at a time, each in a process and on a stack of
its own; the report keeps the serial order of runs and the verdicts a serial run gives."""

from __future__ import annotations

import json
import subprocess

import pytest
from trust.support import checkout_env

pytestmark = pytest.mark.live  # starts the stack's real processes


def test_repeat_runs_a_round_concurrently_with_the_serial_verdicts(tmp_path):
    report = tmp_path / "repeat.json"
    proc = subprocess.run(
        ["gameday", "repeat", "1", "--scenario", "service-down", "--backend", "local",
         "-j", "2", "--json", str(report)],
        capture_output=True, text=True, cwd=tmp_path, env=checkout_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 at a time" in proc.stdout
    data = json.loads(report.read_text())
    series = [(s["runbook"].rsplit("/", 1)[-1], s["verdicts"]) for s in data["series"]]
    assert series == [  # runbooks/*.md in order, as a serial run records them
        ("incident-response.fixed.md", ["recovered"]),
        ("incident-response.md", ["recovered"]),
    ]
    assert data["unstable"] == []
