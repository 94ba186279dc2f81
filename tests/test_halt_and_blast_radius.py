"""Halt conditions and blast radius: what the harness refuses, cuts off, or aborts."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.compose import ComposeFile
from harness.result import Verdict
from harness.run.gameday import Gameday
from harness.runbook.parse import parse_runbook
from harness.suite import catalog

SERVICE_DOWN = catalog.get("service-down")
pytestmark = pytest.mark.live  # starts the stack's real processes

ROOT = Path(__file__).resolve().parent.parent


def test_a_hung_step_is_cut_off_and_reported_timed_out(operator):
    started = time.monotonic()
    out = operator.shell.run_command("sleep 30", timeout=1.0)
    assert out.timed_out and out.exit_code == 124
    assert time.monotonic() - started < 5


def test_runbook_steps_cannot_kill_a_process_the_stack_does_not_own(operator):
    # A foreign web server takes the API's port while the API is stopped...
    operator.sh("docker stop testgen-copilot")
    host, port = operator.stack.published(8000)
    foreign = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", host],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        out = operator.sh("fuser -k 8000/tcp")
        assert out.exit_code == 1
        assert f"refusing to kill pid {foreign.pid}" in out.stderr
        assert foreign.poll() is None  # ...and the runbook's `fuser -k` may not touch it
    finally:
        foreign.kill()
        foreign.wait()


def test_only_the_stacks_own_processes_count_as_owned(operator):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert not operator.stack.owns_pid(sleeper.pid)
        assert not operator.stack.owns_pid(1)
        assert not operator.stack.owns_pid(os.getpid())
        for state in operator.stack.containers().values():
            assert operator.stack.owns_pid(state.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_gameday_whose_stack_cannot_reach_steady_state_is_aborted_never_passed():
    # The operator's shell exports an empty secret, which wins over .env: the API refuses
    # to start, so there is no healthy stack to run a gameday against.
    scenario = dataclasses.replace(SERVICE_DOWN, stack_env={"TESTGEN_SECRET_KEY": ""})
    runbook = parse_runbook(ROOT / "runbooks" / "incident-response.md")
    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")
    result = Gameday(runbook, scenario, lambda env: make_stack(
        "local", compose, env, ROOT / ".env.example")).run()
    assert result.verdict == Verdict.ABORTED
    assert "TESTGEN_SECRET_KEY" in result.reason
    assert not any(s.phase == "resolve" for s in result.steps)
