"""Ports handed to one process's stacks are never handed to another's while it lives
(a service restarting leaves its port unbound for a moment; no other stack may take it)."""

from __future__ import annotations

import subprocess
import sys

PICK = (
    "from harness.backends.local.ports import free_port\n"
    "import sys, time\n"
    "print(sorted(free_port() for _ in range(int(sys.argv[1]))), flush=True)\n"
    "sys.stdin.readline()\n"  # hold the reservations until told to go
)


def _holder(n: int) -> tuple[subprocess.Popen[str], set[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PICK, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, set(eval(proc.stdout.readline()))  # noqa: S307 - our own printout


def test_two_live_processes_never_get_the_same_port() -> None:
    # 400 of ~12,000 ports each: without reservations ~13 would collide.
    first, a = _holder(400)
    second, b = _holder(400)
    try:
        assert not a & b
    finally:
        for proc in (first, second):
            proc.communicate("\n", timeout=10)


def test_a_dead_process_reserves_nothing() -> None:
    proc, ports = _holder(50)
    proc.kill()
    proc.wait()
    # With the holder gone, its ports can be reserved again: lock them all from here.
    from harness.backends.local import ports as mod

    assert all(mod._reserve(p) for p in ports)
