"""A misspelt or out-of-range fault parameter, a broken compose file or one without the
stack's services: one line, exit status 2, and nothing started, through `gameday run`,
`gameday lint` and `pytest -m gameday` alike."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXED = REPO / "runbooks" / "incident-response.fixed.md"
SCENARIO = (
    '[[scenario]]\nid = "slow-db"\ntitle = "latency on the database link"\n'
    'section = "Performance Issues (SEV-2/SEV-3)"\n'
    'fault = { kind = "network", link = "postgres", toxic = "latency", latency = 400 }\n'
)
MISSPELT = SCENARIO.replace("latency = 400", "latencyy = 400")
WHERE = "team.scenarios.toml:5: fault 'network' (latency toxic) has no parameter 'latencyy'"


def team(tmp_path: Path, scenarios: str) -> Path:
    runbook = tmp_path / "team.md"
    shutil.copy(FIXED, runbook)
    (tmp_path / "team.scenarios.toml").write_text(scenarios)
    return runbook


def watched(argv: list[str], cwd: Path, tmpdir: Path) -> tuple[subprocess.CompletedProcess[str],
                                                               list[str]]:
    """Run `argv` with its own empty TMPDIR; every process it started while it ran (polled)."""
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    seen: set[str] = set()  # "" stands for processes gone before they could be read
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            seen |= {_named(c) for c in parent.children(recursive=True)}
        except psutil.Error:
            pass
        time.sleep(0.005)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), sorted(seen - {""})


def _named(process: psutil.Process) -> str:
    """`name: command line`; "" for one reaped before it could be read (it lived a few ms: no
    stack service does)."""
    try:
        return f"{process.name()}: {' '.join(process.cmdline()[:3])}"
    except psutil.Error:
        return ""


WAYS = {
    "run": lambda rb, out: [sys.executable, "-m", "harness.cli", "run", "--runbook", str(rb),
                            "--backend", "local", "--out", str(out)],
    "lint": lambda rb, out: [sys.executable, "-m", "harness.cli", "lint", str(rb)],
    "pytest": lambda rb, out: [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-m",
                               "gameday", "--runbook", str(rb), "--backend", "local", "-q",
                               "--rootdir", str(REPO)],
}  # fmt: skip


@pytest.mark.parametrize("way", WAYS)
def test_a_misspelt_parameter_exits_2_naming_file_and_line_and_starts_nothing(
    tmp_path: Path, way: str
) -> None:
    runbook = team(tmp_path, MISSPELT)
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    proc, started = watched(WAYS[way](runbook, out), tmp_path, tmpdir)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    text = proc.stderr if way != "pytest" else proc.stdout + proc.stderr
    assert WHERE in text, text
    if way != "pytest":  # pytest frames its exit message with its own summary lines
        assert len(proc.stderr.splitlines()) == 1 and proc.stdout == "", proc.stderr
    if way == "pytest":  # pytest's plugins ask `file` and `uname` about the platform,
        # ctypes' library lookup asks `ldconfig -p`, and pytest-benchmark asks `git` for the
        # project's name (the fork that runs each shows pytest's own command line until it execs)
        own = " ".join(WAYS[way](runbook, out)[:3])
        queries = ("file", "uname", "git", "ldconfig")
        started = [c for c in started if c.split(":")[0] not in queries and not c.endswith(own)]
    assert started == [], started  # no stack service, proxy or worker was ever started
    assert list(tmpdir.iterdir()) == [] and not out.exists()


@pytest.mark.parametrize(
    ("value", "words"),
    [("-400", "latency must be 1 to 600000 ms, not -400"),
     ('"fast"', "latency must be an integer, not 'fast'")],
)  # fmt: skip
def test_lint_refuses_an_out_of_range_or_mistyped_attribute(tmp_path: Path, value, words) -> None:
    runbook = team(tmp_path, SCENARIO.replace("400", value))
    proc = subprocess.run(WAYS["lint"](runbook, None), capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert proc.stderr.strip().endswith(words) and "team.scenarios.toml:5: " in proc.stderr


def _compose_without_the_proxy(tmp_path: Path) -> Path:
    """The chaos layer with its `toxiproxy` service left out, over the same deployment."""
    text = (REPO / "docker-compose.chaos.yml").read_text()
    start = text.index("\n  toxiproxy:\n")
    end = text.index("\n  testgen:\n", start)
    text = (text[:start] + text[end:]).replace("      - toxiproxy\n", "")  # from depends_on
    deployment = REPO / "deployments" / "testgen-runbook-era"
    text = text.replace("x-deployment: deployments/testgen-runbook-era",
                        f"x-deployment: {deployment}")  # fmt: skip
    path = tmp_path / "compose.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("scenarios", "compose", "words"),
    [
        ("", _compose_without_the_proxy,
         "compose.yml: no service 'toxiproxy': a gameday stack needs"),
        (SCENARIO.replace('kind = "network", link = "postgres", toxic = "latency", '
                          "latency = 400", 'kind = "service-killed", service = "worker"'),
         lambda tmp: REPO / "docker-compose.chaos.yml", "no service 'worker'"),
        ("", lambda tmp: (tmp / "c.yml", (tmp / "c.yml").write_text("services: [testgen\n"))[0],
         "c.yml: line 2: not valid YAML"),
        (SCENARIO.replace("Performance Issues", "Meteor Strike"),
         lambda tmp: REPO / "docker-compose.chaos.yml", "no single runbook section matches"),
    ],
    ids=["compose-without-the-proxy", "service-a-fault-needs", "compose-not-yaml",
         "section-the-runbook-lacks"],
)  # fmt: skip
def test_lint_checks_the_compose_file_and_scenarios_as_run_does(
    tmp_path: Path, scenarios: str, compose, words: str
) -> None:
    runbook = team(tmp_path, scenarios)
    argv = [*WAYS["lint"](runbook, None), "--compose", str(compose(tmp_path))]
    lint = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert lint.returncode == 2, (lint.stdout, lint.stderr)
    assert words in lint.stderr and len(lint.stderr.splitlines()) == 1, lint.stderr
    run = subprocess.run(
        [*WAYS["run"](runbook, tmp_path / "out"), "--dry-run", "--compose", str(compose(tmp_path))],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert (run.returncode, run.stderr) == (2, lint.stderr)  # the very same check and line


def test_lint_of_a_good_runbook_and_compose_still_passes(tmp_path: Path) -> None:
    runbook = team(tmp_path, SCENARIO)
    proc = subprocess.run(WAYS["lint"](runbook, None), capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
