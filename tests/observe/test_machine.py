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


class _CountingStack:
    """A stack whose containers are real processes of this test; counts the inspections."""

    def __init__(self, procs: list[subprocess.Popen[bytes]]) -> None:
        self.procs, self.asked = procs, 0

    def containers(self) -> dict[str, object]:
        from types import SimpleNamespace

        self.asked += 1
        return {
            f"svc{i}": SimpleNamespace(pid=p.pid, started_at=psutil.Process(p.pid).create_time())
            for i, p in enumerate(self.procs)
            if p.poll() is None
        }


def test_the_sampler_asks_the_stack_again_only_when_a_container_process_ended():
    from harness.observe.machine import StackCpu

    first = subprocess.Popen(["sleep", "30"])
    second = subprocess.Popen(["sleep", "30"])
    stack = _CountingStack([first, second])
    cpu = StackCpu(stack)  # type: ignore[arg-type]
    try:
        assert {p.pid for p in cpu._processes()} == {first.pid, second.pid}
        assert {p.pid for p in cpu._processes()} == {first.pid, second.pid}
        assert stack.asked == 1  # both still run: the stack is not inspected again
        second.kill()
        second.wait()
        third = subprocess.Popen(["sleep", "30"])  # "the restarted container"
        stack.procs.append(third)
        assert {p.pid for p in cpu._processes()} == {first.pid, third.pid}
        assert stack.asked == 2  # an ended process: asked again, and the new one is found
        third.kill()
        third.wait()
    finally:
        for p in (first, second):
            p.kill()
            p.wait()


def test_the_sampler_asks_again_after_its_interval_and_at_its_last_sample(monkeypatch):
    from harness.observe import machine

    proc = subprocess.Popen(["sleep", "30"])
    stack = _CountingStack([proc])
    cpu = machine.StackCpu(stack)  # type: ignore[arg-type]
    try:
        cpu._processes()
        cpu._roots_at -= machine.REASK_S  # as if REASK_S had passed
        cpu._processes()
        assert stack.asked == 2  # a service started from stopped is seen within REASK_S
        cpu.stop()
        assert stack.asked == 3
    finally:
        proc.kill()
        proc.wait()
