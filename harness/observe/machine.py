"""The machine a gameday ran on, as far as its timings depend on it: the load average, and
the CPU time the stack's processes got (a TTR near its budget means little without them).

`StackCpu` samples the stack's container processes (and their children) once a second and
keeps each process's last CPU time, so a process that died in the gameday (a crash, an OOM
kill, a restart) still counts with what it used until its last sample.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import psutil

from harness.backends.base import Stack

SAMPLE_S = 1.0
REASK_S = 5.0  # how often the sampler asks the stack for its containers while none ended
# A container's recorded pid is taken as its process only when the process started within
# this long of the container (a backend that plays containers in-process has no real pid).
PID_MATCH_S = 10.0


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


@dataclass
class MachineRecord:
    cores: int
    loadavg_start: float | None
    loadavg_end: float | None = None
    stack_cpu_s: float | None = None  # CPU seconds of the stack's processes over the gameday
    measured_processes: int = 0

    def as_record(self) -> dict[str, float | int | None]:
        return {
            "cores": self.cores,
            "loadavg_1m_start": self.loadavg_start,
            "loadavg_1m_end": self.loadavg_end,
            "stack_cpu_s": self.stack_cpu_s,
            "stack_processes": self.measured_processes,
        }


def _kernel_lists_children() -> bool:
    me = os.getpid()
    return os.path.exists(f"/proc/{me}/task/{me}/children")


KERNEL_CHILDREN = _kernel_lists_children()


def descendants(root: psutil.Process) -> list[psutil.Process]:
    """Every descendant of `root`, from the kernel's list of each thread's children: a few
    reads per process of the stack, where psutil's `children(recursive=True)` reads the
    status of every process on the machine (its parent map), once per container a second."""
    if not KERNEL_CHILDREN:
        return root.children(recursive=True)
    out: list[psutil.Process] = []
    todo = [root.pid]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone since its parent listed it
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                try:
                    out.append(psutil.Process(kid))
                except psutil.Error:
                    continue
                todo.append(kid)
    return out


class StackCpu:
    """A sampler thread of the stack's CPU time; `stop()` gives the machine record."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.record = MachineRecord(os.cpu_count() or 1, load_average())
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds
        self._baseline: dict[tuple[int, float], float] = {}  # CPU used before the start
        self._known_roots: list[psutil.Process] | None = None
        self._roots_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stack-cpu")

    def start(self) -> StackCpu:
        self._sample(first=True)
        self._thread.start()
        return self

    def stop(self) -> MachineRecord:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._known_roots = None  # the last sample asks the stack afresh
        self._sample()
        self.record.loadavg_end = load_average()
        if self._cpu:
            used = sum(cpu - self._baseline.get(key, 0.0) for key, cpu in self._cpu.items())
            self.record.stack_cpu_s = round(used, 2)
            self.record.measured_processes = len(self._cpu)
        return self.record

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def _processes(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for root in self._roots():
            try:
                procs += [root, *descendants(root)]
            except psutil.Error:
                continue
        return procs

    def _roots(self) -> list[psutil.Process]:
        """The containers' main processes. The stack is asked again (an inspection of every
        container) only when one of them has ended or REASK_S has passed: a restart or a
        recreate ends the old process first, and a service started from stopped is seen
        within REASK_S."""
        now = time.monotonic()
        if self._known_roots is not None and now - self._roots_at < REASK_S and all(
            r.is_running() for r in self._known_roots
        ):
            return self._known_roots
        roots = []
        for state in self.stack.containers().values():
            if state.pid is None or state.started_at is None:
                continue
            try:
                root = psutil.Process(state.pid)
                if abs(root.create_time() - state.started_at) > PID_MATCH_S:
                    continue
                roots.append(root)
            except psutil.Error:
                continue
        self._known_roots, self._roots_at = roots, now
        return roots

    def _sample(self, first: bool = False) -> None:
        try:
            procs = self._processes()
        except Exception:  # noqa: BLE001 - a stack being torn down: keep what was sampled
            return
        for proc in procs:
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            cpu = times.user + times.system
            if first:
                self._baseline[key] = cpu
            self._cpu[key] = cpu
