"""The stack's CPU sampler finds the same processes as psutil's own walk, at a few reads per
process of the stack instead of a read of every process on the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil

from harness.observe.machine import descendants


def test_descendants_are_psutils_recursive_children():
    # a tree: two background children, a subshell with a child of its own, threads aside
    proc = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", "sleep 30 & sleep 30 & (sleep 30; :) & wait"],
        start_new_session=True,
    )
    try:
        root = psutil.Process(proc.pid)
        deadline = time.monotonic() + 5
        while len(root.children(recursive=True)) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        expected = sorted(p.pid for p in root.children(recursive=True))
        assert len(expected) == 4
        assert sorted(p.pid for p in descendants(root)) == expected
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_descendants_of_a_process_gone_is_empty():
    proc = subprocess.Popen(["true"])
    root = psutil.Process(proc.pid)
    proc.wait()
    assert descendants(root) == []
