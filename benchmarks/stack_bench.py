"""The local stack: cold start, each component's own start time, teardown, memory.

cold start   LocalStack(...) constructed (temp dir, ports, reaper) → up() returned, i.e.
             every service healthy by the stack's own checks. Then close() is timed
             (teardown), and the CPU every stack process had used by readiness is summed
             (on 2 cores, a start cannot beat CPU total / 2).
components   each service created alone, in compose order, once its dependencies are
             up: create(service) → healthy (the stack's own check, polled every 2 ms).
             Their sum is what a one-by-one start would cost.
memory       after up: steady-state probes, then 3 s of the gameday's background load
             (10 req/s); then RSS and PSS of every stack process tree plus the reaper.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any

from benchlib import COMPOSE, poll_until, stats, tree_cpu, tree_memory

from harness.backends.local import LocalStack
from harness.backends.local import stack as local_stack
from harness.compose import ComposeFile
from harness.observe.load import Load
from harness.observe.probes import steady_state
from harness.run.gameday import operator_environment


def _compose() -> ComposeFile:
    return ComposeFile(COMPOSE)


def new_stack(compose: ComposeFile | None = None) -> LocalStack:
    compose = compose or _compose()
    return LocalStack(
        compose,
        shell_env=operator_environment(),
        env_example=compose.path.parent / ".env.example",
    )


def _service_pids(stack: LocalStack) -> dict[str, int]:
    return {name: state.pid for name, state in stack.containers().items() if state.pid is not None}


@contextmanager
def _timed_close_parts(parts: dict[str, float]):  # type: ignore[no-untyped-def]
    """Time the parts of LocalStack.close (terminate per service, leftovers, the rest)."""
    orig_terminate = local_stack.LocalStack._terminate

    def terminate(self: LocalStack, cont: Any, timeout: float) -> None:
        start = time.perf_counter()
        try:
            orig_terminate(self, cont, timeout)
        finally:
            key = f"terminate {cont.state.service}"
            parts[key] = parts.get(key, 0.0) + time.perf_counter() - start

    local_stack.LocalStack._terminate = terminate  # type: ignore[method-assign]
    try:
        yield
    finally:
        local_stack.LocalStack._terminate = orig_terminate  # type: ignore[method-assign]


def cold_start_once(compose: ComposeFile) -> dict[str, Any]:
    start = time.perf_counter()
    stack = new_stack(compose)
    constructed = time.perf_counter()
    try:
        stack.up()
        ready = time.perf_counter()
        pids = _service_pids(stack)
        cpu = {name: tree_cpu(pid) for name, pid in pids.items()}
        cpu["reaper"] = tree_cpu(stack._reaper.pid)
    except BaseException:
        stack.close()
        raise
    parts: dict[str, float] = {}
    with _timed_close_parts(parts):
        t_close = time.perf_counter()
        stack.close()
        closed = time.perf_counter()
    return {
        "cold_start": ready - start,
        "constructor": constructed - start,
        "up": ready - constructed,
        "cpu_by_ready": cpu,
        "cpu_total": sum(cpu.values()),
        "close": closed - t_close,
        "close_parts": parts,
    }


def components_once(compose: ComposeFile) -> dict[str, float]:
    """Each service's own start time, its dependencies already healthy."""
    stack = new_stack(compose)
    out: dict[str, float] = {}
    try:
        configs = stack.resolve_config()
        for name in compose.startup_order():
            start = time.perf_counter()
            stack.create(name, configs[name])
            if poll_until(lambda n=name: stack._healthy(n), timeout=60) is None:
                raise RuntimeError(f"{name} never became healthy")
            out[name] = time.perf_counter() - start
    finally:
        stack.close()
    return out


def memory_once(compose: ComposeFile, load_s: float = 3.0) -> dict[str, Any]:
    stack = new_stack(compose)
    try:
        stack.up()
        holds, observed = steady_state(stack)
        if not holds:
            raise RuntimeError(f"steady state does not hold: {observed}")
        t0 = time.monotonic()
        load = Load(stack, lambda: time.monotonic() - t0).start()
        time.sleep(load_s)
        per: dict[str, dict[str, int]] = {}
        for name, pid in _service_pids(stack).items():
            rss, pss = tree_memory(pid)
            per[name] = {"rss": rss, "pss": pss}
        rss, pss = tree_memory(stack._reaper.pid)
        per["reaper"] = {"rss": rss, "pss": pss}
        load.stop()
        return {
            "rss_total": sum(v["rss"] for v in per.values()),
            "pss_total": sum(v["pss"] for v in per.values()),
            "per_service": per,
            "requests": len(load.requests),
        }
    finally:
        stack.close()


def measure(runs: int) -> dict[str, Any]:
    compose = _compose()
    cold_start_once(compose)  # warm: page cache, .pyc files, the PostgreSQL template
    cold = [cold_start_once(compose) for _ in range(runs)]
    comps = [components_once(compose) for _ in range(runs)]
    mem = [memory_once(compose) for _ in range(max(1, min(runs, 3)))]
    out: dict[str, Any] = {
        "cold_start": stats(c["cold_start"] for c in cold),
        "constructor": stats(c["constructor"] for c in cold),
        "cpu_total_by_ready": stats(c["cpu_total"] for c in cold),
        "close": stats(c["close"] for c in cold),
        "components": {name: stats(c[name] for c in comps) for name in compose.startup_order()},
        "components_sum": stats(sum(c.values()) for c in comps),
        "components_max": stats(max(c.values()) for c in comps),
        "cpu_by_ready": {
            name: stats(c["cpu_by_ready"].get(name, 0.0) for c in cold)
            for name in [*compose.startup_order(), "reaper"]
        },
        "close_parts": {
            key: stats(c["close_parts"].get(key, 0.0) for c in cold)
            for key in sorted({k for c in cold for k in c["close_parts"]})
        },
        "memory_rss_mb": stats((m["rss_total"] / 2**20 for m in mem), unit="MB", digits=1),
        "memory_pss_mb": stats((m["pss_total"] / 2**20 for m in mem), unit="MB", digits=1),
        "memory_per_service_rss_mb": {
            name: stats((m["per_service"][name]["rss"] / 2**20 for m in mem), unit="MB", digits=1)
            for name in mem[0]["per_service"]
        },
        "cores": os.cpu_count(),
    }
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3), indent=2))
