"""Shared helpers for `benchmarks/run.py`: statistics, clocks, process trees, machine load."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

COMPOSE = REPO / "docker-compose.chaos.yml"
RUNBOOKS = sorted((REPO / "runbooks").glob("*.md"))


def stats(values: Iterable[float], unit: str = "s", digits: int = 3) -> dict[str, Any]:
    """median, min, max over the runs (and the runs themselves)."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "unit": unit}
    return {
        "median": round(statistics.median(vals), digits),
        "min": round(min(vals), digits),
        "max": round(max(vals), digits),
        "n": len(vals),
        "unit": unit,
        "values": [round(v, digits) for v in vals],
    }


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def git_state() -> dict[str, Any]:
    """The commit measured, and whether harness/ had uncommitted changes (other engineers
    edit it while benchmarks run)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "harness_dirty": bool(git("status", "--porcelain", "--", "harness")),
    }


def machine() -> dict[str, Any]:
    return {
        "git": git_state(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg_at_start": os.getloadavg(),
    }


def repeat(n: int, fn: Callable[[], float]) -> list[float]:
    return [fn() for _ in range(n)]


def poll_until(check: Callable[[], bool], timeout: float, every: float = 0.002) -> float | None:
    """Seconds until check() is true (polled every `every`), or None on timeout."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter() - start
        time.sleep(every)
    return None


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu(pid: int) -> float:
    """user+sys seconds of a process and its live children."""
    total = 0.0
    for p in tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of a process tree. PSS shares each shared page among its users, so
    it does not count PostgreSQL's shared buffers once per backend as RSS does."""
    rss = pss = 0
    for p in tree(pid):
        try:
            full = p.memory_full_info()
            rss += full.rss
            pss += getattr(full, "pss", full.rss)
        except psutil.Error:
            continue
    return rss, pss


def stop_process(proc: subprocess.Popen[Any], sig: int = 15, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
