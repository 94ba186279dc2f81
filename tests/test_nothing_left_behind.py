"""Nothing outlives a gameday: not on success, not on Ctrl-C, SIGTERM or SIGKILL at any phase."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live  # starts the stack's real processes

ROOT = Path(__file__).resolve().parent.parent
PHASES = ["up", "baseline", "inject", "detected"]


def stack_pids(tmp: Path) -> set[int]:
    pids = set()
    for pidfile in tmp.glob(".gameday-*.pids"):
        for line in pidfile.read_text().splitlines():
            pids.add(int(line.split()[0]))
    return pids


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening_ports_of(pids: set[int]) -> set[int]:
    import psutil

    ports = set()
    for conn in psutil.net_connections("tcp"):
        if conn.status == "LISTEN" and conn.pid in pids:
            ports.add(conn.laddr.port)
    return ports


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_interrupted_gameday_leaves_no_process_port_or_dir(phase, sig):
    # A TMPDIR of its own (traversable: PostgreSQL runs unprivileged) isolates this stack.
    tmp_path = Path(tempfile.mkdtemp(prefix="gd-cleanup-"))
    tmp_path.chmod(0o711)
    phase_file = tmp_path / "phases"
    env = {**os.environ, "TMPDIR": str(tmp_path), "GAMEDAY_PHASE_FILE": str(phase_file)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "scenarios"),
            "-m",
            "gameday",
            "-q",
            "-p",
            "no:cacheprovider",
            "--runbook",
            str(ROOT / "runbooks" / "incident-response.md"),
            "-k",
            "service_down",
            "--backend",
            "local",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if phase_file.exists() and phase in phase_file.read_text().split():
                break
            assert proc.poll() is None, "the gameday ended before reaching the phase"
            time.sleep(0.01)
        else:
            pytest.fail(f"phase {phase} never reached")
        pids = stack_pids(tmp_path)
        assert pids, "the stack's processes were not registered"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = {p for p in pids if alive(p)}
            dirs = [p for p in tmp_path.glob("gameday-*")] + list(tmp_path.glob(".gameday-*"))
            if not left and not dirs:
                break
            time.sleep(0.1)
        assert not left, f"processes left after {sig.name} at {phase}: {sorted(left)}"
        assert not dirs, f"temp dirs left after {sig.name} at {phase}: {dirs}"
        assert not listening_ports_of(pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp_path, ignore_errors=True)
