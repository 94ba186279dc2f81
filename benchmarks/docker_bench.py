"""The docker backend, only when an engine answers (`docker info`): stack start with the
images already built (cached), and the gameday suite with `--backend docker`.

The images are not built here: when one is missing, DockerStack builds it (minutes, the
first time), so one warm-up start precedes the timed ones.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

from benchlib import COMPOSE, stats


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_once() -> dict[str, float]:
    from harness.backends.docker import DockerStack  # type: ignore[import-not-found,unused-ignore]
    from harness.compose import ComposeFile
    from harness.run.gameday import operator_environment

    compose = ComposeFile(COMPOSE)
    start = time.perf_counter()
    stack = DockerStack(
        compose, shell_env=operator_environment(), env_example=compose.path.parent / ".env.example"
    )
    constructed = time.perf_counter()
    try:
        stack.up()
        ready = time.perf_counter()
    finally:
        t_close = time.perf_counter()
        stack.close()
        closed = time.perf_counter()
    return {"start": ready - start, "constructor": constructed - start, "close": closed - t_close}


def measure_start(runs: int) -> dict[str, Any]:
    start_once()  # builds any missing image; not timed
    res = [start_once() for _ in range(runs)]
    return {
        "start": stats(r["start"] for r in res),
        "constructor": stats(r["constructor"] for r in res),
        "close": stats(r["close"] for r in res),
    }
