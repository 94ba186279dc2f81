"""CPU of one detection re-run, by part: where a 10-a-second re-poll's CPU goes.

    python benchmarks/repoll_cost.py [--runs 200] [--classic] [COMMAND ...]

One real local stack, its bridge and an operator shell, as a gameday has them. Each
typical detection command is run `--runs` times the way the detect phase runs it (in a
polling terminal: one bash forking a subshell per run; `--classic`: a bash per run, as
`shell.run(step, isolated=True)`), one after the other, and its CPU is split:

- steps' processes: bash and what it starts (shims, curl, grep), the kernel's count for the
  waited children (RUSAGE_CHILDREN);
- bridge server: CPU of the server's handler threads (per-thread clocks around `handle`);
- caller: the rest of this process (starting bash, reading its pipes, the excerpt);
- services: the stack's long-lived processes (the API answering, the mock LLM, Redis...).

Figures are milliseconds of CPU per run; load them beside `uptime`.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import tree_cpu  # noqa: E402

from harness.backends.local import LocalStack  # noqa: E402
from harness.bridge.server import BridgeServer  # noqa: E402
from harness.bridge.shell import OperatorShell  # noqa: E402
from harness.compose import ComposeFile  # noqa: E402
from harness.redact import Redactor  # noqa: E402
from harness.run.gameday import operator_environment  # noqa: E402
from harness.runbook.model import Role, Step  # noqa: E402

COMMANDS = (
    "true",
    "curl -f http://localhost:8000/health",
    "curl http://localhost:8000/metrics | grep active_requests",
    "docker ps | grep testgen",
    "docker logs testgen-copilot --since 5m",
    "redis-cli info stats",
    "tail -100 /var/log/testgen/app.log | grep ERROR",
)


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def _self_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _services_cpu(me: psutil.Process) -> float:
    """The stack's services: this process's tree without this process itself."""
    own = me.cpu_times()
    return tree_cpu(me.pid) - (own.user + own.system)


def _instrument(bridge: BridgeServer) -> list[float]:
    """Per-thread CPU of the bridge's handling, summed over calls (a one-item list)."""
    spent = [0.0]
    lock = threading.Lock()
    original = bridge._serve_connection

    def serve(conn: object) -> None:
        t0 = time.thread_time()
        try:
            original(conn)  # type: ignore[arg-type]
        finally:
            with lock:
                spent[0] += time.thread_time() - t0

    bridge._serve_connection = serve  # type: ignore[method-assign]
    return spent


def measure(
    shell: OperatorShell, spent: list[float], command: str, runs: int, terminal: bool
) -> dict[str, float]:
    me = psutil.Process()
    step = Step(command=command, comment="", line=1, role=Role.DETECTION, section="bench")
    with shell.terminal() as term:
        run = term.run if terminal else (lambda s: shell.run(s, isolated=True))
        run(step)  # warm
        c0, s0, v0 = _children_cpu(), _self_cpu(), _services_cpu(me)
        b0, t0 = spent[0], time.monotonic()
        codes = set()
        for _ in range(runs):
            codes.add(run(step).exit_code)
    c1, s1, v1, b1, t1 = _children_cpu(), _self_cpu(), _services_cpu(me), spent[0], time.monotonic()
    ms = 1000.0 / runs
    bridge = (b1 - b0) * ms
    return {
        "steps": (c1 - c0) * ms,
        "bridge": bridge,
        "caller": (s1 - s0) * ms - bridge,
        "services": (v1 - v0) * ms,
        "wall": (t1 - t0) * ms,
        "codes": float(len(codes)),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument(
        "--classic", action="store_true", help="a bash per run (GAMEDAY_POLL_TERMINAL=0)"
    )
    ap.add_argument("commands", nargs="*")
    args = ap.parse_args(argv)
    env = operator_environment()
    stack = LocalStack(ComposeFile(ROOT / "docker-compose.chaos.yml"), shell_env=env)
    bridge = None
    try:
        stack.up()
        bridge = BridgeServer(stack, stack.dir / "run" / "bridge")
        spent = _instrument(bridge)
        redactor = Redactor()
        redactor.add_env(env)
        shell = OperatorShell(stack, bridge, redactor, env)
        print(f"load {os.getloadavg()[0]:.1f}; ms of CPU per run ({args.runs} runs each)")
        print(f"{'command':<58} {'steps':>6} {'bridge':>6} {'caller':>6} {'svc':>6} "
              f"{'total':>6} {'wall':>6}")  # fmt: skip
        for command in args.commands or COMMANDS:
            r = measure(shell, spent, command, args.runs, not args.classic)
            total = r["steps"] + r["bridge"] + r["caller"] + r["services"]
            print(f"{command[:58]:<58} {r['steps']:6.2f} {r['bridge']:6.2f} {r['caller']:6.2f} "
                  f"{r['services']:6.2f} {total:6.2f} {r['wall']:6.1f}")  # fmt: skip
    finally:
        if bridge:
            bridge.close()
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
