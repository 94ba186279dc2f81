"""Where a docker stack's time goes: `up` and `close`, per phase and per service, with the CPU
the engine's processes (dockerd, containerd, shims) and the stack's containers used.

    python scripts/docker-phases.py [--runs 3]        (DOCKER_HOST picks the engine)

Prints one line per run and the medians. The engine's CPU is read from /proc of the engine's
processes, so on a remote engine it is counted only when that engine runs on this machine
(the namespace engine of scripts/remote-engine.sh does).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import psutil

from harness.backends.docker import DockerStack
from harness.backends.docker.stack import DockerStack as _Stack
from harness.compose import ComposeFile

ROOT = Path(__file__).resolve().parents[1]
ENGINE_PROCS = (
    "dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy"
)


def engine_cpu() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] in ENGINE_PROCS and proc.info["cpu_times"] is not None:
            t = proc.info["cpu_times"]
            total += t.user + t.system + t.children_user + t.children_system
    return total


def one_run() -> dict[str, float]:
    created: dict[str, float] = {}
    original = _Stack.create
    lock = threading.Lock()

    def timed_create(self: _Stack, service: str, config: object, wait: object = None) -> None:
        t = time.monotonic()
        try:
            original(self, service, config, wait=wait)  # type: ignore[arg-type]
        finally:
            with lock:
                created[service] = time.monotonic() - t

    _Stack.create = timed_create  # type: ignore[method-assign]
    me = psutil.Process()
    cpu0, eng0, t0 = sum(me.cpu_times()[:2]), engine_cpu(), time.monotonic()
    try:
        stack = DockerStack(ComposeFile(ROOT / "docker-compose.chaos.yml"),
                            env_example=ROOT / ".env.example")
        t_init = time.monotonic()
        stack.up(timeout=180)
        t_up = time.monotonic()
        stack.close()
        t_close = time.monotonic()
    finally:
        _Stack.create = original  # type: ignore[method-assign]
    figures = {
        "init (sweep, reaper, record)": t_init - t0,
        "up (all services ready)": t_up - t_init,
        "close": t_close - t_up,
        "harness CPU-s": sum(me.cpu_times()[:2]) - cpu0,
        "engine CPU-s (dockerd, containerd, shims)": engine_cpu() - eng0,
    }
    figures.update({f"  {name}: create+start+ready": s for name, s in sorted(created.items())})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        load = psutil.getloadavg()[0]
        runs.append(one_run())
        print(f"run {i + 1} (load {load:.1f}): "
              + ", ".join(f"{k.strip()} {v:.2f}" for k, v in runs[-1].items()), flush=True)
    print(f"\nmedian of {len(runs)}:")
    for key in runs[0]:
        print(f"  {key:<48} {statistics.median(r[key] for r in runs):7.2f}")


if __name__ == "__main__":
    main()
