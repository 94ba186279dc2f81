"""CPU seconds of one command's process tree, by part: where the CPU of a `gameday run` goes.

    python benchmarks/cpu_parts.py -- gameday run --backend local --out /tmp/x [-j N ...]

A sampler reads every descendant's CPU time (user + sys) from /proc every 0.2 s and keeps
the last value seen per process; parts are named from each process's command line. What no
sample saw (processes that live under 0.2 s: the detection steps' curl, the bridged shims,
`cp` of the data template, psql) is the total's remainder, "short-lived". The total is the
kernel's own count for the waited tree (RUSAGE_CHILDREN), as reviewers measure it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections import defaultdict

import psutil

PARTS = (
    # first: its command line names the services' modules it preloads
    ("local/zygote.py", "zygotes (the services' pre-imported parents)"),
    ("harness.services.testgen", "API service (testgen)"),
    ("harness.services.mockllm", "mock LLM"),
    ("harness.faultproxy", "fault proxy"),
    ("postgres", "PostgreSQL"),
    ("redis-server", "Redis"),
    ("reaper", "stack reapers"),
    ("harness.cli", "gameday (runner, load, probes, pollers)"),
    ("pytest", "gameday (runner, load, probes, pollers)"),
    ("execnet", "gameday (runner, load, probes, pollers)"),
    ("bash", "runbook steps' shells"),
)


def part(cmdline: list[str], name: str) -> str:
    text = " ".join(cmdline) or name
    for needle, label in PARTS:
        if needle in text:
            return label
    return f"other ({name})"


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    seen: dict[tuple[int, float], tuple[str, float]] = {}
    done = threading.Event()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    me = psutil.Process()

    def sample() -> None:
        while not done.is_set():
            for p in me.children(recursive=True):
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        key = (p.pid, p.create_time())
                        label = seen.get(key, (None, 0.0))[0] or part(p.cmdline(), p.name())
                        seen[key] = (label, t.user + t.system)
                except psutil.Error:
                    continue
            done.wait(0.2)

    t0 = time.monotonic()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    code = proc.wait()
    done.set()
    thread.join()
    wall = time.monotonic() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    parts: dict[str, float] = defaultdict(float)
    for label, cpu in seen.values():
        parts[label] += cpu
    print(f"exit {code}, wall {wall:.1f} s, CPU {total:.1f} s "
          f"(load at end {os.getloadavg()[0]:.1f})")  # fmt: skip
    for label, cpu in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<45} {cpu:7.1f} s")
    print(f"  {'short-lived (steps, shims, cp, psql)':<45} {total - sum(parts.values()):7.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
