"""Nothing left in /dev/shm: a PostgreSQL killed hard (SIGKILL, as `docker kill` does) leaves
its POSIX shared memory segments behind (`/dev/shm/PostgreSQL.*`, owned by the user it ran
as); the local stack's teardown sweeps those of its own lifetime, and the leftover check
(`orphaned_segments`) counts them."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.backends.local.reaper import _postgres_uid, orphaned_segments
from harness.compose import ComposeFile
from harness.run.gameday import operator_environment

REPO = Path(__file__).resolve().parents[2]


def _mapped_by(pid: int) -> set[Path]:
    with open(f"/proc/{pid}/maps") as f:
        return {Path(line.split(None, 5)[-1].strip()) for line in f
                if "/dev/shm/PostgreSQL." in line}  # fmt: skip


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this machine")
def test_a_postgres_killed_hard_leaves_no_shared_memory_after_teardown():
    since = time.time()
    compose = ComposeFile(REPO / "docker-compose.chaos.yml")
    stack = make_stack("local", compose, operator_environment(),
                       env_example=REPO / ".env.example")  # fmt: skip
    try:
        stack.up()
        pid = stack.containers()["postgres"].pid
        assert pid is not None
        ours = _mapped_by(pid)
        assert ours, "this PostgreSQL uses no POSIX shared memory: nothing to sweep here"
        stack.kill("postgres", signal.SIGKILL)  # through the engine: it stays down
        # The killed PostgreSQL's segments are left (a SIGKILL removes nothing)...
        assert all(p.exists() for p in ours), ours
        time.sleep(0.6)  # the check skips segments younger than 0.5 s
        # ...and the leftover check counts them (those another stack's teardown, sweeping
        # what its lifetime left, has not taken meanwhile on a machine running other suites).
        still = {p for p in ours if p.exists()}
        assert still <= set(orphaned_segments(_postgres_uid(), since)), still
    finally:
        stack.close()
    assert not [p for p in ours if p.exists()], ours
