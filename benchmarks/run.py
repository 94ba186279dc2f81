"""Performance figures of the gameday harness (issue 8), one entry point:

    python benchmarks/run.py [--runs N] [--quick] [--json OUT] [--only SECTION ...]

Sections (all by default):
  bare       physical limits: initdb, template copy, bare postgres / redis-server start,
             python imports of the three Python services, interpreter start
  stack      local stack cold start (all services ready) next to the components' own start
             times, CPU by readiness, close, memory (RSS and PSS) at steady state under load
  gameday    gamedays run in-process, instrumented: harness overhead per gameday, effective
             TTD/TTR polling intervals, wall time per phase
  proposals  the changes applied in harness/, before and after: local stack cold start and
             close at commit --before against the tree (interleaved), one bridged call
             per shim (python -S, lean), reaper start, httpx client build, volume copy
  suite      the suite three ways, interleaved: serial pytest, the default `gameday run`
             (-j from cores and memory), `pytest -n 2`; verdicts compared with serial
  docker     docker backend: start with cached images, and the suite (only when `docker
             info` answers; otherwise "skipped: no docker engine")

--quick: N defaults to 3, gamedays on 3 scenarios of one runbook, no suites (and no docker
suite). Every figure is median, min, max over N runs. The table is printed at the end, the
JSON (default benchmarks/latest.json) holds every run's values. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import REPO, RUNBOOKS, loadavg, machine  # noqa: E402

SECTIONS = ("bare", "stack", "gameday", "proposals", "suite", "docker")
QUICK_SCENARIOS = ["service-down", "performance", "database-link-cut"]
# harness/ before the measured savings were applied (kill at close, one TLS context, stack
# dirs on tmpfs, lean shim, lean reaper start): `proposals` measures it against the tree.
BEFORE = "b686196"


def log(msg: str) -> None:
    print(
        f"[bench {time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    ap.add_argument(
        "--suite-runs", type=int, default=None, help="runs per suite variant (default --runs)"
    )
    ap.add_argument("--quick", action="store_true", help="no suites; gamedays on 3 scenarios")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "latest.json"), help="JSON output")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    ap.add_argument(
        "--merge", action="store_true", help="update these sections in the existing --json file"
    )
    ap.add_argument(
        "--before",
        default=BEFORE,
        help=f"commit whose harness/ is the 'before' of the applied changes (default {BEFORE})",
    )
    args = ap.parse_args(argv)
    runs = args.runs or 3
    suite_runs = args.suite_runs or runs
    sections = list(args.only or SECTIONS)
    if args.quick and not args.only:
        sections = [s for s in sections if s != "suite"]
    previous: dict[str, Any] = {}
    if args.merge and Path(args.json).exists():
        previous = json.loads(Path(args.json).read_text())
    out: dict[str, Any] = {
        "machine": machine(),
        "runs": runs,
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "sections": sections,
    }
    os.chdir(REPO)

    if "bare" in sections:
        import bare

        log("bare components (physical limits)")
        out["bare"] = bare.measure(runs)
    if "stack" in sections:
        import stack_bench

        log("local stack: cold start, components, close, memory")
        out["stack"] = stack_bench.measure(runs)
    if "gameday" in sections:
        import gameday_bench

        log("instrumented gamedays: overhead, polling, phases")
        if args.quick:
            g = gameday_bench.measure(
                1, QUICK_SCENARIOS, [p for p in RUNBOOKS if "fixed" in p.name]
            )
        else:
            g = gameday_bench.measure(1)
        out["gameday"] = g
    if "proposals" in sections:
        import proposals

        log(f"applied changes: before ({args.before}) and after, bridged call, reaper, TLS")
        out["proposals"] = {
            "before_after": proposals.before_after_stack(args.before, runs),
            "bridged_call": proposals.bridged_call(),
            "reaper_start": proposals.reaper_start(max(runs, 5)),
            "tls_context": proposals.tls_context(),
            "template_copy": proposals.template_copy(runs),
            "oom_inject_encoding": proposals.oom_inject_encoding(runs),
        }
    if "suite" in sections:
        out["suite"] = suites(suite_runs)
    if "docker" in sections:
        out["docker"] = docker(runs, suite_runs, with_suite=not args.quick)

    if previous:  # --merge: sections not run this time keep their previous figures
        for key, value in previous.items():
            if key in SECTIONS and key not in sections:
                out[key] = value
        out["sections"] = sorted(set(previous.get("sections", [])) | set(sections))
        out["merged_from"] = previous.get("started")
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    out["machine"]["git_at_end"] = benchlib.git_state()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    print(table(out))
    print(f"\nJSON: {args.json}")
    return 0


def suites(n: int) -> dict[str, Any]:
    """The suite three ways, interleaved (each round runs each once, so a busy spell of the
    shared machine hits all of them): serial pytest, the default `gameday run`, `-n 2`."""
    import suite_bench as sb

    from harness.cli import default_jobs

    res: dict[str, Any] = {}
    variants: list[tuple[str, Any]] = [
        ("serial", lambda: sb.run_suite("serial", [])),
        ("gameday_run", lambda: sb.run_cli("gameday_run")),
        ("n2", lambda: sb.run_suite("n2", ["-n", "2"])),
    ]
    runs: dict[str, list[dict[str, Any]]] = {v[0]: [] for v in variants}
    for i in range(n):
        for label, run in variants:
            log(f"suite {label} run {i + 1}/{n}")
            r = run()
            log(
                f"  {label}: rc {r['rc']}, {len(r['gamedays'])} gamedays, wall {r['wall']}s, "
                f"load {r['loadavg_before']}->{r['loadavg_after']}"
            )
            runs[label].append(r)
    for label, rs in runs.items():
        res[label] = {"summary": sb.summarize(rs), "runs": rs}
    gamedays = max((len(r["gamedays"]) for r in runs["serial"]), default=0)
    res["default_jobs"] = default_jobs(gamedays) if gamedays else None
    res["where_time_goes"] = sb.where_time_goes(runs["serial"])
    serial = sb.verdicts(runs["serial"][0]) if runs["serial"] else {}
    for label in ("serial", "gameday_run", "n2"):
        res[f"{label}_verdicts_match_serial"] = all(sb.verdicts(r) == serial for r in runs[label])
        res[f"{label}_verdict_differences"] = [
            {k: (serial.get(k), v) for k, v in sb.verdicts(r).items() if serial.get(k) != v}
            for r in runs[label]
        ]
    return res


def docker(runs: int, suite_runs: int, with_suite: bool) -> dict[str, Any]:
    import docker_bench

    if not docker_bench.engine_answers():
        print("skipped: no docker engine", file=sys.stderr)
        return {"skipped": "no docker engine"}
    out: dict[str, Any] = {}
    log("docker: stack start with cached images")
    try:
        out["start"] = docker_bench.measure_start(runs)
    except Exception as exc:  # noqa: BLE001 - report, keep the rest of the figures
        out["start_error"] = f"{type(exc).__name__}: {exc}"
    if with_suite:
        import suite_bench as sb

        rs = []
        for i in range(suite_runs):
            log(f"docker suite run {i + 1}/{suite_runs}")
            rs.append(sb.run_suite("docker", [], "", backend="docker", timeout=3600))
            log(f"  docker: rc {rs[-1]['rc']}, {rs[-1]['passed']} passed, wall {rs[-1]['wall']}s")
        out["suite"] = {"summary": sb.summarize(rs), "runs": rs}
    return out


# -- the table ---------------------------------------------------------------------------
def _fmt(
    st: dict[str, Any] | None, scale: float = 1.0, unit: str = "s"
) -> tuple[str, str, str, str]:
    if not st or not st.get("n"):
        return ("-", "-", "-", "0")
    f = (
        (lambda v: f"{v * scale:.3f}{unit}")
        if unit == "s"
        else (lambda v: f"{v * scale:.1f}{unit}")
    )
    return (f(st["median"]), f(st["min"]), f(st["max"]), str(st["n"]))


def verdict_check(su: dict[str, Any], label: str) -> tuple[int, int, list[dict[str, Any]]]:
    """(runs compared, runs with the serial run's verdicts, differences): runs that left no
    results (a failed process) are not compared; they count in the wall times only."""
    base = {
        f"{g['scenario']}--{g['runbook']}": g["verdict"]
        for g in su["serial"]["runs"][0]["gamedays"]
    }
    compared = same = 0
    diffs = []
    for r in su[label]["runs"]:
        got = {f"{g['scenario']}--{g['runbook']}": g["verdict"] for g in r["gamedays"]}
        if not got:
            continue
        compared += 1
        delta = {k: (base.get(k), v) for k, v in got.items() if base.get(k) != v}
        same += not delta
        if delta:
            diffs.append(delta)
    return compared, same, diffs


def _ok(su: dict[str, Any], label: str) -> str:
    compared, same, _ = verdict_check(su, label)
    runs = len(su[label]["runs"])
    if not compared:
        return "NO RESULTS"
    text = f"verdicts = serial in {same}/{compared}"
    return text + (f" ({runs - compared} run(s) left no results)" if compared < runs else "")


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def table(out: dict[str, Any]) -> str:
    rows: list[tuple[str, str, tuple[str, str, str, str], str]] = []

    def add(
        name: str, target: str, st: dict[str, Any] | None, verdict: str = "", unit: str = "s"
    ) -> None:
        rows.append((name, target, _fmt(st, unit=unit), verdict))

    def check(st: dict[str, Any] | None, limit: float, le: bool = True) -> str:
        if not st or not st.get("n"):
            return ""
        m = st["median"]
        return "met" if (m <= limit if le else m >= limit) else "NOT met"

    st = out.get("stack")
    if st:
        add(
            "local stack cold start (all ready)",
            "<= 1.0 s",
            st["cold_start"],
            check(st["cold_start"], 1.0),
        )
        add("  sum of components' own start times", "", st["components_sum"])
        for name, v in st["components"].items():
            add(f"    {name} alone (deps up)", "", v)
        add("  CPU used by all stack processes", "", st["cpu_total_by_ready"])
        add("  stack close (teardown)", "", st["close"])
        add(
            "local stack RSS at steady state",
            "< 600 MB",
            st["memory_rss_mb"],
            check(st["memory_rss_mb"], 600),
            unit=" MB",
        )
        add("  PSS (shared pages split)", "", st["memory_pss_mb"], unit=" MB")
    su = out.get("suite")
    if su:
        s = su["serial"]["summary"]
        d = su["gameday_run"]["summary"]
        p = su["n2"]["summary"]
        n = max(s.get("gamedays") or [0])
        add(f"gameday suite, serial ({n} gamedays)", "", s["wall"], _ok(su, "serial"))
        add("  sum of gameday durations", "", s["sum_of_gamedays_s"])
        add("  of which fixed windows (by design)", "", s["fixed_windows_s"])
        add("  longest gameday", "", s["longest_gameday_s"])
        add(
            f"gameday run, default (-j {su.get('default_jobs')})",
            "<= 60 s",
            d["wall"],
            _join(check(d["wall"], 60), _ok(su, "gameday_run")),
        )
        add("  sum of gameday durations", "", d["sum_of_gamedays_s"])
        add("gameday suite, pytest -n 2", "", p["wall"], _ok(su, "n2"))
        add("  sum of gameday durations", "", p["sum_of_gamedays_s"])
        for label, summary in (("default", d), ("-n 2", p)):
            if s["wall"].get("n") and summary["wall"].get("n"):
                speed = s["wall"]["median"] / summary["wall"]["median"]
                rows.append((f"  speedup serial / {label}", "", (f"{speed:.2f}x", "", "", ""), ""))
    g = out.get("gameday")
    if g:
        add(
            "harness overhead per gameday",
            "<= 5 %",
            g["overhead_pct"],
            check(g["overhead_pct"], 5),
            unit=" %",
        )
        add(
            "  gamedays without a fixed window",
            "",
            g.get("overhead_pct_no_window_gamedays"),
            unit=" %",
        )
        add(
            "  work inside fixed windows left out",
            "",
            g.get("overhead_outside_windows_pct"),
            unit=" %",
        )
        add("  overhead, seconds per gameday", "", g["overhead_s"])
        add("  upper bound: all harness threads", "", g["process_cpu_pct"], unit=" %")
        add(f"  shim call ({g.get('shim_kind', 'python')})", "", g["shim_call"])
        add(
            "per-step detection re-poll interval",
            "<= 0.1 s",
            g["detect_poll_interval"],
            check(g["detect_poll_interval"], 0.1),
        )
        add("  detection step run (duration)", "", g.get("step_duration"))
        add("verify polling interval (effective)", "", g["verify_poll_interval"])
    b = out.get("bare")
    if b:
        add("bare initdb (as nobody)", "", b["initdb"])
        add("bare cp -a of the data template", "", b["pg_template_copy"])
        add("bare postgres start -> SELECT 1", "", b["postgres_start"])
        add("bare redis-server start -> PONG", "", b["redis_start"])
        for label in (
            "python -c pass",
            "python -S -c pass",
            "import harness.services.testgen.app",
            "import harness.services.mockllm.app",
            "import harness.faultproxy",
        ):
            add(f"bare python: {label}", "", b[label])
    pr = out.get("proposals")
    if pr and "before_after" in pr:
        ba = pr["before_after"]
        for label in ("before", "after"):
            tag = f"{label} ({ba['commit_before']})" if label == "before" else "after (tree)"
            add(f"cold start, {tag}", "", ba[label]["cold_start"])
            add(f"  close, {tag}", "", ba[label]["close"])
            add(f"  CPU by ready, {tag}", "", ba[label]["cpu_total_by_ready"])
        for label, v in pr["bridged_call"].items():
            add(f"bridged call: {label}", "", v)
        for label, v in pr["reaper_start"].items():
            add(f"reaper start {label} (cpu)", "", v["cpu"])
        for label, v in pr["tls_context"].items():
            add(f"httpx client built, {label} (cpu)", "", v)
        for label, v in pr["template_copy"].items():
            if isinstance(v, dict):
                add(f"PostgreSQL volume copy, {label}", "", v)
        if "oom_inject_encoding" in pr:
            add("OOM inject: 8 json.dumps (cpu)", "", pr["oom_inject_encoding"]["per_source_cpu"])
            add("OOM inject: 1 json.dumps (cpu)", "", pr["oom_inject_encoding"]["once_cpu"])
    d = out.get("docker")
    if d is not None:
        if d.get("skipped"):
            rows.append(("docker backend", "", ("skipped: no docker engine", "", "", ""), ""))
        else:
            if "start" in d:
                add(
                    "docker stack start (cached images)",
                    "<= 10 s",
                    d["start"]["start"],
                    check(d["start"]["start"], 10),
                )
            elif "start_error" in d:
                rows.append(
                    ("docker stack start", "<= 10 s", (d["start_error"][:60], "", "", ""), "error")
                )
            if "suite" in d:
                ds = d["suite"]["summary"]
                add(
                    "docker gameday suite",
                    "<= 180 s",
                    ds["wall"],
                    check(ds["wall"], 180) + ("" if ds["all_passed"] else ", FAILED runs"),
                )
    m = out["machine"]
    head = (
        f"gameday harness benchmarks — {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, load avg at start {m['loadavg_at_start'][0]:.2f}, "
        f"runs {out['runs']}{' (quick)' if out['quick'] else ''}, "
        f"commit {m.get('git', {}).get('commit', '?')}"
        f"{' (harness/ dirty)' if m.get('git', {}).get('harness_dirty') else ''}"
    )
    w = max(len(r[0]) for r in rows) if rows else 30
    lines = [
        head,
        "",
        f"{'figure':<{w}}  {'target':<9} {'median':>10} {'min':>10} {'max':>10} {'n':>3}  status",
    ]
    lines.append("-" * len(lines[-1]))
    for name, target, (med, mn, mx, n), verdict in rows:
        lines.append(f"{name:<{w}}  {target:<9} {med:>10} {mn:>10} {mx:>10} {n:>3}  {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
