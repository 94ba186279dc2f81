"""Gamedays run in-process, instrumented from outside: harness overhead, polling, phases.

Nothing in harness/ is edited: the instrumentation wraps methods for the duration of a
run (see `Instrumented`). For each gameday it records

wall          Gameday.run() from call to return (up and teardown included: the gameday's
              wall time as the suite pays it).
main_cpu      CPU time of the thread that runs the gameday (time.thread_time): parsing
              nothing (the runbook is parsed once, before), composing requests, the
              probes' HTTP client code, step bookkeeping, Popen, the verdict. Time this
              thread spends blocked (sleeps, waiting for a step's bash, a socket, a
              service) is not CPU and is not counted.
bridge_cpu    CPU time of the bridge server's handler threads (thread_time inside each
              request): the `docker`/`docker-compose`/`curl` emulation. It is on the
              critical path: a step's bash waits for the shim, which waits for it.
shim          each bridge call starts one `python -S` shim; its cost is measured on its
              own (`shim_call`: a shim against a bridge that answers at once) and
              multiplied by the number of calls.
report        GamedayResult.to_dict + JSON + redaction + summary + step table, as the
              pytest plugin does after each gameday.
parse         parse_runbook, once per runbook per session: shown apart (amortized over
              the runbook's gamedays it is one share).

overhead = main_cpu + bridge_cpu + shim + report (the harness's own work on the critical
path); overhead_pct = overhead / wall. An upper bound, `process_cpu_pct`, counts every
thread of the harness process (load generator, supervisor, log pumps, bridge) plus shims.

Polling: every run of a detection step (phase `detect`) is logged with its start on the
gameday's clock; the effective polling interval of a step is the difference between two
consecutive starts of that step. Verify: the interval between consecutive steady-state
probes after the last resolution step.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import COMPOSE, RUNBOOKS, stats

import harness.run.gameday as gameday_mod
from harness.backends import make_stack
from harness.backends.local import stack as local_stack
from harness.bridge import server as bridge_server
from harness.compose import ComposeFile
from harness.observe.load import Load
from harness.redact import Redactor
from harness.run.gameday import Gameday
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook
from harness.suite import catalog


class Recorder:
    def __init__(self) -> None:
        self.bridge_cpu = 0.0
        self.bridge_wall = 0.0
        self.bridge_calls = 0
        self.steps: list[dict[str, Any]] = []
        self.probes: list[tuple[float, float, bool]] = []  # (start, duration, holds) gameday clock
        self.load_cpu = 0.0
        self.up: list[float] = []
        self.close: list[float] = []
        self.ssl_contexts = 0  # httpx clients built (each builds an SSL context)
        self.game: Gameday | None = None
        self.lock = threading.Lock()
        # (kind, gameday clock, main-thread CPU, bridge CPU, bridge calls) at each event
        self.marks: list[tuple[str, float, float, float, int]] = []

    def mark(self, kind: str) -> None:
        with self.lock:
            bridge_cpu, calls = self.bridge_cpu, self.bridge_calls
        self.marks.append((kind, self.now(), time.thread_time(), bridge_cpu, calls))

    def now(self) -> float:
        return self.game.now() if self.game else 0.0


@contextmanager
def instrumented(rec: Recorder) -> Iterator[None]:
    """Wrap (and afterwards restore) the methods the figures are read from."""
    saved: list[tuple[object, str, object]] = []

    def patch(owner: object, name: str, value: object) -> None:
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    orig_serve = bridge_server.BridgeServer._serve_connection

    def serve_connection(self: Any, conn: Any) -> None:
        c0, w0 = time.thread_time(), time.perf_counter()
        try:
            orig_serve(self, conn)
        finally:
            with rec.lock:
                rec.bridge_cpu += time.thread_time() - c0
                rec.bridge_wall += time.perf_counter() - w0
                rec.bridge_calls += 1

    patch(bridge_server.BridgeServer, "_serve_connection", serve_connection)

    orig_step_run = Gameday._step_run

    def step_run(self: Gameday, phase: str, step: Any, outcome: Any, start: float, *a: Any) -> Any:
        rec.steps.append(
            {
                "phase": phase,
                "line": step.line,
                "start": start,
                "duration": outcome.duration,
                "exit": outcome.exit_code,
            }
        )
        return orig_step_run(self, phase, step, outcome, start, *a)

    patch(Gameday, "_step_run", step_run)

    orig_steady = gameday_mod.steady_state

    def steady(stack: Any, *a: Any, **k: Any) -> tuple[bool, str]:
        start = rec.now()
        holds, observed = orig_steady(stack, *a, **k)
        rec.probes.append((start, rec.now() - start, holds))
        return holds, observed

    patch(gameday_mod, "steady_state", steady)

    orig_load_run = Load._run

    def load_run(self: Load) -> None:
        c0 = time.thread_time()
        try:
            orig_load_run(self)
        finally:
            rec.load_cpu += time.thread_time() - c0

    patch(Load, "_run", load_run)

    orig_event = Gameday.event

    def event(self: Gameday, result: Any, kind: str, detail: str = "") -> None:
        orig_event(self, result, kind, detail)
        rec.mark(kind)

    patch(Gameday, "event", event)
    orig_impact = Gameday._impact

    def impact(self: Gameday, *a: Any, **k: Any) -> Any:
        rec.mark("teardown")  # called first thing in run()'s finally, after load.stop()
        return orig_impact(self, *a, **k)

    patch(Gameday, "_impact", impact)

    orig_up, orig_close = local_stack.LocalStack.up, local_stack.LocalStack.close

    def up(self: Any, *a: Any, **k: Any) -> None:
        w0 = time.perf_counter()
        try:
            orig_up(self, *a, **k)
        finally:
            rec.up.append(time.perf_counter() - w0)

    def close(self: Any) -> None:
        w0 = time.perf_counter()
        try:
            orig_close(self)
        finally:
            rec.close.append(time.perf_counter() - w0)

    patch(local_stack.LocalStack, "up", up)
    patch(local_stack.LocalStack, "close", close)

    import httpx._transports.default as transport

    orig_ssl = transport.create_ssl_context

    def ssl_context(*a: Any, **k: Any) -> Any:
        with rec.lock:
            rec.ssl_contexts += 1
        return orig_ssl(*a, **k)

    patch(transport, "create_ssl_context", ssl_context)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


# -- the shim's own cost ---------------------------------------------------------------
def shim_call_cost(runs: int = 30) -> dict[str, Any]:
    """One shim invocation, as BridgeServer installs it (the lean shim where a C compiler
    is, else python -S), against the real bridge server answering at once: the fixed price
    of every `docker`/`curl`/... in a runbook step."""
    from proposals import _InstantBridge, _NoStack

    work = Path(tempfile.mkdtemp(prefix="bench-shim-"))
    bridge = _InstantBridge(_NoStack(), work)  # type: ignore[arg-type]
    shim = bridge.operator_bin / "docker"
    env = {**os.environ, "GAMEDAY_BRIDGE": bridge.socket_path}
    walls, cpus = [], []
    try:
        subprocess.run([str(shim), "ps"], env=env, check=True)  # warm
        for _ in range(runs):
            before = os.times()
            t = time.perf_counter()
            subprocess.run([str(shim), "ps"], env=env, check=True)
            walls.append(time.perf_counter() - t)
            after = os.times()
            cpus.append(
                after.children_user
                - before.children_user
                + after.children_system
                - before.children_system
            )
        # the same, through bash, as a step runs it: `bash -c 'docker ps'`
        bash_walls = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(
                ["bash", "--noprofile", "--norc", "-c", f"{shim} ps"], env=env, check=True
            )
            bash_walls.append(time.perf_counter() - t)
        bare_bash = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(["bash", "--noprofile", "--norc", "-c", "true"], env=env, check=True)
            bare_bash.append(time.perf_counter() - t)
    finally:
        bridge.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return {
        "shim_kind": bridge.shim_kind,
        "shim_call": stats(walls),
        "shim_call_cpu": stats(cpus),
        "bash_plus_shim": stats(bash_walls),
        "bash_alone": stats(bare_bash),
    }


# -- one gameday --------------------------------------------------------------------------
def run_one(
    runbook: Runbook, scenario: Scenario, compose: ComposeFile, shim_cost: float
) -> dict[str, Any]:
    rec = Recorder()
    with instrumented(rec):
        game = Gameday(
            runbook,
            scenario,
            lambda env: make_stack(
                "local", compose, env, env_example=compose.path.parent / ".env.example"
            ),
        )
        rec.game = game
        w0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        rec.marks.append(("start", 0.0, c0, 0.0, 0))
        result = game.run()
        wall = time.perf_counter() - w0
        main_cpu = time.thread_time() - c0
        process_cpu = time.process_time() - p0
        rec.mark("end")
    r0 = time.perf_counter()
    text = Redactor.from_environment()(json.dumps(result.to_dict(), indent=2))
    game.redact(text)
    result.summary()
    result.step_table()
    report = time.perf_counter() - r0
    shim = rec.bridge_calls * shim_cost
    overhead = main_cpu + rec.bridge_cpu + shim + report
    in_window, window_s, window_cpu, window_calls = window_overhead(
        rec.marks, result.verdict.value, shim_cost
    )
    return {
        "scenario": scenario.id,
        "runbook": Path(runbook.path).stem,
        "verdict": result.verdict.value,
        "ttd_s": result.ttd_s,
        "ttr_s": result.ttr_s,
        "wall": wall,
        "main_cpu": main_cpu,
        "bridge_cpu": rec.bridge_cpu,
        "bridge_wall": rec.bridge_wall,
        "bridge_calls": rec.bridge_calls,
        "httpx_clients": rec.ssl_contexts,
        "shim": shim,
        "report": report,
        "overhead": overhead,
        "overhead_pct": 100 * overhead / wall,
        # the harness's work inside a fixed window (a designed wait: it does not lengthen
        # the gameday) left out, on both sides of the ratio
        "overhead_outside_windows_pct": 100 * (overhead - in_window) / max(1e-9, wall - window_s),
        "overhead_in_window": in_window,
        "window_cpu": window_cpu,
        "window_calls": window_calls,
        "window_s": window_s,
        "overhead_by_phase": by_phase(rec.marks, shim_cost),
        "process_cpu_pct": 100 * (process_cpu + shim + report) / wall,
        "load_cpu": rec.load_cpu,
        "up": sum(rec.up),
        "close": sum(rec.close),
        "phases": phases(result.to_dict(), scenario),
        "polling": polling(rec, result.to_dict()),
    }


def by_phase(marks: list[tuple[str, float, float, float, int]], shim_cost: float) -> dict[str, Any]:
    """Overhead (main CPU + bridge CPU + shims) between consecutive events, by the event
    that opens the stretch: "start" is stack up, "up" the steady-state probes, ..."""
    out: dict[str, dict[str, float]] = {}
    for (kind, t, cpu, bcpu, calls), (_, t2, cpu2, bcpu2, calls2) in zip(
        marks, marks[1:], strict=False
    ):
        key = "resolve" if kind == "step" else kind
        row = out.setdefault(key, {"wall": 0.0, "main_cpu": 0.0, "bridge_cpu": 0.0, "shim": 0.0})
        row["wall"] += t2 - t
        row["main_cpu"] += cpu2 - cpu
        row["bridge_cpu"] += bcpu2 - bcpu
        row["shim"] += (calls2 - calls) * shim_cost
    return {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in out.items()}


def window_overhead(
    marks: list[tuple[str, float, float, float, int]], verdict: str, shim_cost: float
) -> tuple[float, float, float, int]:
    """(overhead inside the fixed window, the window's wall time): for an undetected
    verdict the detect window (fault-confirmed → teardown), for not-recovered the verify
    window (last step or lift → verdict)."""
    kinds = [m[0] for m in marks]
    if verdict == "undetected" and "fault-confirmed" in kinds and "teardown" in kinds:
        a, b = marks[kinds.index("fault-confirmed")], marks[kinds.index("teardown")]
    elif verdict == "not-recovered" and "verdict" in kinds:
        opens = [i for i, k in enumerate(kinds) if k in ("step", "lift", "detected")]
        if not opens:
            return 0.0, 0.0, 0.0, 0
        a, b = marks[max(opens)], marks[kinds.index("verdict")]
    else:
        return 0.0, 0.0, 0.0, 0
    cpu, calls = (b[2] - a[2]) + (b[3] - a[3]), b[4] - a[4]
    return cpu + calls * shim_cost, b[1] - a[1], cpu, calls


def phases(r: dict[str, Any], scenario: Scenario) -> dict[str, float]:
    """Wall time per phase, from the result's own events (one monotonic clock)."""
    ev: dict[str, float] = {}
    steps: list[float] = []
    for e in r["events"]:
        if e["kind"] == "step":
            steps.append(e["t"])
        ev.setdefault(e["kind"], e["t"])
    last = max(e["t"] for e in r["events"])
    out = {
        "up": ev.get("up", 0.0),
        "steady": ev.get("steady-state", 0.0) - ev.get("up", 0.0),
        "baseline": ev.get("baseline", 0.0) - ev.get("steady-state", 0.0),
        "warmup": ev.get("inject", 0.0) - ev.get("baseline", 0.0),
        "confirm": ev.get("fault-confirmed", 0.0) - ev.get("inject", 0.0),
    }
    t_conf = ev.get("fault-confirmed", ev.get("inject", 0.0))
    if r["verdict"] == "undetected":
        window_end = (r.get("t0") or 0.0) + min(scenario.detect_window_s, r["budget_s"])
        out["detect"] = window_end - t_conf
        out["teardown"] = r["duration_s"] - window_end
        return out
    t_det = ev.get("detected", t_conf)
    out["detect"] = t_det - t_conf
    t_res_end = steps[-1] if steps else t_det
    out["resolve"] = t_res_end - t_det
    end_verify = ev.get("recovered", ev.get("verdict", last))
    out["verify"] = end_verify - t_res_end
    out["ledger"] = ev.get("verdict", last) - end_verify
    out["teardown"] = r["duration_s"] - last
    return out


def polling(rec: Recorder, r: dict[str, Any]) -> dict[str, Any]:
    by_line: dict[int, list[float]] = {}
    for s in rec.steps:
        if s["phase"] == "detect":
            by_line.setdefault(s["line"], []).append(s["start"])
    intervals = [
        b - a for starts in by_line.values() for a, b in zip(starts, starts[1:], strict=False)
    ]
    resolve_ends = [s["start"] + s["duration"] for s in rec.steps if s["phase"] == "resolve"]
    after = max(resolve_ends) if resolve_ends else None
    verify_starts = [p[0] for p in rec.probes if after is not None and p[0] >= after]
    verify_iv = [b - a for a, b in zip(verify_starts, verify_starts[1:], strict=False)]
    return {
        "detect_intervals": intervals,
        "detect_runs": sum(len(v) for v in by_line.values()),
        "verify_intervals": verify_iv,
        "step_durations": [s["duration"] for s in rec.steps if s["exit"] is not None],
    }


def measure(
    runs: int,
    scenario_ids: list[str] | None = None,
    runbooks: list[Path] | None = None,
    pairs: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Every scenario on every runbook (or only `pairs`: (scenario id, runbook stem))."""
    compose = ComposeFile(COMPOSE)
    parse_times = {}
    books = []
    for path in runbooks or RUNBOOKS:
        t = time.perf_counter()
        books.append(parse_runbook(path))
        parse_times[path.stem] = time.perf_counter() - t
    shim = shim_call_cost()
    shim_cost = shim["shim_call"]["median"]
    games: list[dict[str, Any]] = []
    for _ in range(runs):
        for book in books:
            known = catalog.for_runbook(book.path)
            for sid in scenario_ids or list(known):
                if pairs is not None and (sid, Path(book.path).stem) not in pairs:
                    continue
                if sid not in known:
                    continue
                g = run_one(book, known[sid], compose, shim_cost)
                print(
                    f"  {g['scenario']:<28} {g['runbook']:<26} {g['verdict']:<14} "
                    f"wall {g['wall']:6.2f}s  overhead {g['overhead']:.3f}s "
                    f"({g['overhead_pct']:.1f} %)",
                    file=sys.stderr,
                    flush=True,
                )
                games.append(g)
    det_iv = [iv for g in games for iv in g["polling"]["detect_intervals"]]
    ver_iv = [iv for g in games for iv in g["polling"]["verify_intervals"]]
    step_d = [d for g in games for d in g["polling"]["step_durations"]]
    return {
        "parse_runbook": {k: round(v, 4) for k, v in parse_times.items()},
        **shim,
        "overhead_pct": stats((g["overhead_pct"] for g in games), unit="%", digits=2),
        "overhead_outside_windows_pct": stats(
            (g["overhead_outside_windows_pct"] for g in games), unit="%", digits=2
        ),
        "overhead_pct_no_window_gamedays": stats(
            (g["overhead_pct"] for g in games if not g["window_s"]), unit="%", digits=2
        ),
        "overhead_s": stats(g["overhead"] for g in games),
        "process_cpu_pct": stats((g["process_cpu_pct"] for g in games), unit="%", digits=2),
        "main_cpu_s": stats(g["main_cpu"] for g in games),
        "bridge_cpu_s": stats(g["bridge_cpu"] for g in games),
        "shim_s": stats(g["shim"] for g in games),
        "report_s": stats(g["report"] for g in games),
        "bridge_calls": stats((g["bridge_calls"] for g in games), unit="calls", digits=0),
        "httpx_clients": stats((g["httpx_clients"] for g in games), unit="clients", digits=0),
        "detect_poll_interval": stats(det_iv) if det_iv else {"n": 0},
        "verify_poll_interval": stats(ver_iv) if ver_iv else {"n": 0},
        "step_duration": stats(step_d) if step_d else {"n": 0},
        "configured_poll_interval": 0.1,
        "gamedays": games,
        "median_step_duration": statistics.median(step_d) if step_d else None,
    }


if __name__ == "__main__":
    ids = sys.argv[1:] or None
    print(json.dumps(measure(1, ids), indent=2, default=str))


def projected(games: list[dict[str, Any]], shim_cost: float) -> dict[str, Any]:
    """The overhead figures again with every shim call costing `shim_cost` instead of the
    measured python -S start (e.g. the bash-function floor from proposals.shim_variants)."""
    pct, outside = [], []
    for g in games:
        over = g["main_cpu"] + g["bridge_cpu"] + g["bridge_calls"] * shim_cost + g["report"]
        in_window = g.get("window_cpu", 0.0) + g.get("window_calls", 0) * shim_cost
        pct.append(100 * over / g["wall"])
        outside.append(100 * (over - in_window) / max(1e-9, g["wall"] - g.get("window_s", 0.0)))
    return {
        "shim_cost": shim_cost,
        "overhead_pct": stats(pct, unit="%", digits=2),
        "overhead_outside_windows_pct": stats(outside, unit="%", digits=2),
        "overhead_pct_no_window_gamedays": stats(
            (p for p, g in zip(pct, games, strict=True) if not g.get("window_s")),
            unit="%",
            digits=2,
        ),
    }
