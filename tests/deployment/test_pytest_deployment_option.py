"""`pytest -m gameday` takes `--deployment DIR` as `gameday run` does (shared option)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-m", "gameday",
         "-p", "no:randomly", "--backend", "local", "--collect-only", "-q", *args],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip


def test_the_option_selects_the_deployment_the_stack_follows():
    ok = _collect("--deployment", "deployments/testgen-runbook-era")
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "service-down-incident-response" in ok.stdout
    # The TestGen layer over the renamed deployment is refused: the option reached the model.
    renamed = _collect("--deployment", "deployments/renamed")
    assert renamed.returncode == 2
    assert "does not define" in renamed.stdout + renamed.stderr
    layered = _collect("--deployment", "deployments/renamed",
                       "--compose", "deployments/renamed-chaos.yml", "--scenario", "service-down")
    assert layered.returncode == 0, layered.stdout[-2000:] + layered.stderr[-2000:]


def test_a_missing_deployment_is_bad_input():
    proc = _collect("--deployment", "deployments/nope")
    assert proc.returncode == 2
    assert "deployments/nope: no such deployment directory" in proc.stdout + proc.stderr
