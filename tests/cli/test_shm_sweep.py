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


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this machine")
def test_a_postgres_killed_hard_leaves_no_shared_memory_after_teardown():
    since = time.time()
    compose = ComposeFile(REPO / "docker-compose.chaos.yml")
    stack = make_stack("local", compose, operator_environment(),
                       env_example=REPO / ".env.example")  # fmt: skip
    try:
        stack.up()
        stack.kill("postgres", signal.SIGKILL)  # through the engine: it stays down
        time.sleep(1.0)
        left = orphaned_segments(_postgres_uid(), since)
        # What the check counts: the killed PostgreSQL's segments (it used POSIX ones).
        assert left, "a PostgreSQL killed hard left no segment: nothing to sweep here"
    finally:
        stack.close()
    assert orphaned_segments(_postgres_uid(), since) == []
