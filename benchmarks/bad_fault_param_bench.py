"""How long a misspelt fault parameter takes to stop a run, through each way in:

    gameday run --runbook team.md         (team.scenarios.toml has `latencyy = 400`)
    gameday lint team.md
    python -m pytest scenarios -m gameday --runbook team.md

Each is run N times (default 5); prints the median and range of wall time and of CPU
seconds (user + system of the process and its children), the exit status and whether the
error named the file and line. Wall time on a shared machine is inflated by its load
(printed); CPU seconds are not.

    python benchmarks/bad_fault_param_bench.py [N]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAD = (
    '[[scenario]]\nid = "slow-db"\ntitle = "latency on the database link"\n'
    'section = "Performance Issues (SEV-2/SEV-3)"\n'
    'fault = { kind = "network", link = "postgres", toxic = "latency", latencyy = 400 }\n'
)


def _timed(argv: list[str], cwd: Path) -> tuple[float, float, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, proc.stderr + proc.stdout


def main(runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(REPO / "runbooks" / "incident-response.fixed.md", folder / "team.md")
        (folder / "team.scenarios.toml").write_text(BAD)
        ways = {
            "gameday run": [sys.executable, "-m", "harness.cli", "run", "--runbook", "team.md",
                            "--backend", "local", "--out", str(folder / "out")],
            "gameday lint": [sys.executable, "-m", "harness.cli", "lint", "team.md"],
            "pytest -m gameday": [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-m",
                                  "gameday", "--runbook", str(folder / "team.md"), "--backend",
                                  "local", "-q", "-p", "no:cacheprovider", "--rootdir",
                                  str(REPO)],
        }  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {runs} runs each")
        for name, argv in ways.items():
            samples = [_timed(argv, folder) for _ in range(runs)]
            walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
            codes = {s[2] for s in samples}
            named = all("team.scenarios.toml:5:" in s[3] for s in samples)
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            print(f"{name:<18} wall median {wall:.2f} s "
                  f"({min(walls):.2f}-{max(walls):.2f}), CPU median {cpu:.2f} s "
                  f"({min(cpus):.2f}-{max(cpus):.2f}); exit {sorted(codes)}; file:line "
                  f"{'named' if named else 'MISSING'}; nothing written: "
                  f"{not (folder / 'out').exists()}")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
