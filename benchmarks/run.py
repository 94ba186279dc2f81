"""Performance figures of the gameday harness (issue 8), one entry point:

    python benchmarks/run.py [--runs N] [--quick] [--json OUT] [--only SECTION ...]

Sections (all by default):
  bare       physical limits: initdb, template copy, bare postgres / redis-server start,
             python imports of the three Python services, interpreter start
  stack      local stack cold start (all services ready) next to the components' own start
             times, CPU by readiness, close, memory (RSS and PSS) at steady state under load
  gameday    gamedays run in-process, instrumented: harness overhead per gameday, effective
             TTD/TTR polling intervals, wall time per phase
  proposals  before/after of proposed changes measurable without editing harness/
  suite      `python -m pytest scenarios -m gameday -q -p no:cacheprovider`, serial and
             `-n 2`, stock and with the proposed patches (fastpath_plugin)
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
# Before/after pairs: two recovered, one undetected (detect polling for its whole window),
# one not-recovered (verify polling for its whole window).
PROPOSAL_PAIRS = [
    ("service-down", "incident-response.fixed"),
    ("database-link-cut", "incident-response.fixed"),
    ("llm-quota", "incident-response"),
    ("redis-down", "incident-response"),
]
SAFE = "kill_close,ssl_once,tmpfs,fixed_rate,load_early"


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

        log("proposals: stack patches, shim variants, reaper, template copy")
        out["proposals"] = {
            "stack_patches": proposals.stack_patches(runs),
            "shim_variants": proposals.shim_variants(),
            "reaper_start": proposals.reaper_start(max(runs, 5)),
            "template_copy": proposals.template_copy(runs),
            "oom_inject_encoding": proposals.oom_inject_encoding(runs),
        }
        if not args.quick:
            import fastpath_plugin
            import gameday_bench

            log("proposals: instrumented gamedays with the safe patches")
            fastpath_plugin.apply(SAFE.split(","))
            try:
                out["proposals"]["gameday_patched"] = gameday_bench.measure(1, pairs=PROPOSAL_PAIRS)
            finally:
                fastpath_plugin.undo()
            log("proposals: the same gamedays stock")
            out["proposals"]["gameday_stock"] = gameday_bench.measure(1, pairs=PROPOSAL_PAIRS)
            log("proposals: every gameday with the safe patches (projected: bash-function shims)")
            fastpath_plugin.apply(SAFE.split(","))
            try:
                every = gameday_bench.measure(1)
            finally:
                fastpath_plugin.undo()
            floor = out["proposals"]["shim_variants"]["bash_function_devtcp"]["median"]
            out["proposals"]["gameday_patched_all"] = {
                **{k: v for k, v in every.items() if k != "gamedays"},
                "gamedays": every["gamedays"],
                "projected_bash_shims": gameday_bench.projected(every["gamedays"], floor),
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
    import suite_bench as sb

    res: dict[str, Any] = {}
    variants = [
        ("serial", [], ""),
        ("n2", ["-n", "2"], "xdist_fix"),  # stock -n 2 cannot run: see n2_stock
        ("serial_patched", [], SAFE),
        ("n2_patched_lpt", ["-n", "2"], SAFE + ",lpt_order,xdist_fix"),
    ]
    runs: dict[str, list[dict[str, Any]]] = {v[0]: [] for v in variants}
    durations: str | None = None
    log("suite n2_stock (stock -n 2, once: does it run at all?)")
    stock = sb.run_suite("n2_stock", ["-n", "2"], "")
    log(f"  n2_stock: rc {stock['rc']}, {stock['passed']} passed, error: {stock['error_line']}")
    res["n2_stock"] = {k: v for k, v in stock.items() if k not in ("gamedays",)}
    for i in range(n):  # interleaved, so a busy spell of the machine hits every variant
        for label, extra, patches in variants:
            if label == "n2_patched_lpt" and durations is None:
                durations = sb.durations_file(runs["serial"])
            log(f"suite {label} run {i + 1}/{n}")
            r = sb.run_suite(
                label,
                extra,
                patches,
                durations_file=durations if "lpt" in label else None,
            )
            log(
                f"  {label}: rc {r['rc']}, {r['passed']} passed, {r['failed']} failed, "
                f"wall {r['wall']}s"
            )
            runs[label].append(r)
    for workers in (3, 4):  # the suite mostly waits: more workers than cores?
        label = f"n{workers}_patched_lpt"
        runs[label] = []
        for i in range(min(n, 2)):
            log(f"suite {label} run {i + 1}/{min(n, 2)}")
            r = sb.run_suite(
                label, ["-n", str(workers)], SAFE + ",lpt_order,xdist_fix", durations_file=durations
            )
            log(f"  {label}: rc {r['rc']}, {r['passed']} passed, wall {r['wall']}s")
            runs[label].append(r)
    for label, rs in runs.items():
        res[label] = {"summary": sb.summarize(rs), "runs": rs}
    res["where_time_goes"] = sb.where_time_goes(runs["serial"])
    res["where_time_goes_patched"] = sb.where_time_goes(runs["serial_patched"])
    serial = {k: v for k, v in sb.verdicts(runs["serial"][0]).items()}
    res["n2_verdicts_match_serial"] = all(sb.verdicts(r) == serial for r in runs["n2"])
    res["patched_verdicts_match_serial"] = all(
        sb.verdicts(r) == serial for r in runs["serial_patched"] + runs["n2_patched_lpt"]
    )
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
            "<= 1.5 s",
            st["cold_start"],
            check(st["cold_start"], 1.5),
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
        s, p = su["serial"]["summary"], su["n2"]["summary"]
        add("gameday suite, serial", "<= 60 s", s["wall"], check(s["wall"], 60))
        add("  of which fixed windows (by design)", "", s["fixed_windows_s"])
        n2s = su.get("n2_stock")
        if n2s and n2s["rc"] != 0:
            rows.append(
                (
                    "gameday suite, -n 2 as shipped",
                    "",
                    (f"fails rc {n2s['rc']}", "", "", "1"),
                    (n2s.get("error_line") or "")[-60:],
                )
            )
        add(
            "gameday suite, -n 2 (+ xdist_fix)",
            "",
            p["wall"],
            "" if p["all_passed"] else "FAILED runs",
        )
        if s["wall"].get("n") and p["wall"].get("n"):
            speed = s["wall"]["median"] / p["wall"]["median"]
            rows.append(
                (
                    "  speedup serial / -n 2",
                    ">= 1.6x",
                    (f"{speed:.2f}x", "", "", ""),
                    "met" if speed >= 1.6 else "NOT met",
                )
            )
        for label, title in (
            ("serial_patched", "suite serial, safe patches"),
            ("n2_patched_lpt", "suite -n 2, safe patches + LPT order"),
            ("n3_patched_lpt", "suite -n 3, safe patches + LPT order"),
            ("n4_patched_lpt", "suite -n 4, safe patches + LPT order"),
        ):
            if label in su:
                add(
                    f"  {title}",
                    "",
                    su[label]["summary"]["wall"],
                    "" if su[label]["summary"]["all_passed"] else "FAILED runs",
                )
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
        add("  shim call (python -S)", "", g["shim_call"])
        add(
            "detect polling interval (effective)",
            "<= 0.1 s",
            g["detect_poll_interval"],
            check(g["detect_poll_interval"], 0.1),
        )
        add(
            "verify polling interval (effective)",
            "<= 0.1 s",
            g["verify_poll_interval"],
            check(g["verify_poll_interval"], 0.1),
        )
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
    if pr:
        for label, v in pr["stack_patches"].items():
            add(f"cold start, patch {label}", "", v["cold_start"])
            add(f"  close, patch {label}", "", v["close"])
        for label, v in pr["shim_variants"].items():
            add(f"bridged step: {label}", "", v)
        if "oom_inject_encoding" in pr:
            add("OOM inject: 8 json.dumps (cpu)", "", pr["oom_inject_encoding"]["per_source_cpu"])
            add("OOM inject: 1 json.dumps (cpu)", "", pr["oom_inject_encoding"]["once_cpu"])
        for label, v in pr["reaper_start"].items():
            add(f"reaper start {label} (cpu)", "", v["cpu"])
        if "gameday_patched_all" in pr:
            x = pr["gameday_patched_all"]
            add("overhead, all 22 gamedays, safe patches", "", x["overhead_pct"], unit=" %")
            add("  same, fixed windows left out", "", x["overhead_outside_windows_pct"], unit=" %")
            pj = x["projected_bash_shims"]
            add(
                "  + bash-function shims (projected)",
                "<= 5 %",
                pj["overhead_pct"],
                check(pj["overhead_pct"], 5),
                unit=" %",
            )
            add(
                "    fixed windows left out",
                "<= 5 %",
                pj["overhead_outside_windows_pct"],
                check(pj["overhead_outside_windows_pct"], 5),
                unit=" %",
            )
            add("  detect poll interval, safe patches", "", x["detect_poll_interval"])
            add("  verify poll interval, safe patches", "", x["verify_poll_interval"])
        for label in ("gameday_stock", "gameday_patched"):
            if label in pr:
                x = pr[label]
                add(f"{label}: overhead (4 gamedays)", "", x["overhead_pct"], unit=" %")
                add(f"  {label}: main-thread CPU", "", x["main_cpu_s"])
                add(f"  {label}: detect poll interval", "", x["detect_poll_interval"])
                add(f"  {label}: verify poll interval", "", x["verify_poll_interval"])
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
