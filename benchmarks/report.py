"""Markdown views of a `benchmarks/run.py` JSON, for docs/performance.md:

    python benchmarks/report.py [benchmarks/latest.json]

Prints: the figures table, where the serial suite's time goes (per gameday and per
phase, fixed windows apart), the harness overhead by phase, and the before/after of the
proposals.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import table  # noqa: E402


def _m(st: dict[str, Any] | None, unit: str = "s", digits: int = 2) -> str:
    if not st or not st.get("n"):
        return "–"
    return f"{st['median']:.{digits}f} {unit} ({st['min']:.{digits}f}–{st['max']:.{digits}f})"


def where_time_goes(w: dict[str, Any]) -> str:
    phases = ["up", "steady", "baseline", "warmup", "confirm", "detect", "resolve", "verify"]
    phases += ["ledger", "teardown"]
    head = "| gameday | verdict | total | window | " + " | ".join(phases) + " |"
    lines = [head, "|" + "---|" * (4 + len(phases))]
    rows = sorted(w["gamedays"].items(), key=lambda kv: -kv[1]["duration_s"])
    for key, row in rows:
        cells = [f"{row['phases'].get(p, 0.0):.2f}" for p in phases]
        window = (
            f"{row['window_s']:.0f} ({row['window_kind'].split('_')[0]})" if row["window_s"] else ""
        )
        lines.append(
            f"| {key} | {row['verdict']} | {row['duration_s']:.1f} | {window} | "
            + " | ".join(cells)
            + " |"
        )
    totals = w["phase_totals_s"]
    lines.append(
        f"| **sum** | | **{w['sum_duration_s']:.1f}** | **{w['sum_windows_s']:.0f}** | "
        + " | ".join(f"{totals.get(p, 0.0):.1f}" for p in phases)
        + " |"
    )
    return "\n".join(lines)


def overhead_by_phase(g: dict[str, Any]) -> str:
    acc: dict[str, dict[str, float]] = {}
    for game in g["gamedays"]:
        for phase, row in game.get("overhead_by_phase", {}).items():
            a = acc.setdefault(
                phase, {"wall": 0.0, "main_cpu": 0.0, "bridge_cpu": 0.0, "shim": 0.0}
            )
            for k in a:
                a[k] += row[k]
    n = len(g["gamedays"])
    lines = [
        f"| stretch between events (sums over {n} gamedays) | wall | main-thread CPU "
        "| bridge CPU | shims |",
        "|---|---|---|---|---|",
    ]
    names = {
        "start": "start → up: stack construction and up()",
        "up": "up → steady-state: probes",
        "steady-state": "steady-state → baseline: detection steps twice",
        "baseline": "baseline → inject: load warm-up, fault injection",
        "inject": "inject → fault-confirmed",
        "fault-confirmed": "fault-confirmed → detected: polling (undetected: whole window)",
        "detected": "detected → next event: 1st resolution step (no step: all of verify)",
        "lift": "lift → next step",
        "resolve": "step → next step / verdict: resolution steps, then verify",
        "data-destroyed": "data-destroyed → next",
        "recovered": "recovered → verdict: ledger",
        "verdict": "verdict → teardown",
        "teardown": "teardown: impact, fault cleanup, bridge and stack close",
    }
    order = list(names)
    for phase in sorted(acc, key=lambda p: order.index(p) if p in order else 99):
        a = acc[phase]
        lines.append(
            f"| {names.get(phase, phase)} | {a['wall']:.1f} s | {a['main_cpu']:.2f} s "
            f"| {a['bridge_cpu']:.2f} s | {a['shim']:.2f} s |"
        )
    return "\n".join(lines)


def gamedays_overhead(g: dict[str, Any]) -> str:
    lines = [
        "| gameday | verdict | wall | overhead | % | outside windows % | main CPU | bridge CPU "
        "| shim calls | httpx clients |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in g["gamedays"]:
        lines.append(
            f"| {x['scenario']}--{x['runbook']} | {x['verdict']} | {x['wall']:.2f} | "
            f"{x['overhead']:.2f} | {x['overhead_pct']:.1f} | "
            f"{x.get('overhead_outside_windows_pct', x['overhead_pct']):.1f} | "
            f"{x['main_cpu']:.2f} | {x['bridge_cpu']:.2f} | {x['bridge_calls']} | "
            f"{x.get('httpx_clients', '')} |"
        )
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "latest.json")
    out = json.loads(path.read_text())
    print("```\n" + table(out) + "\n```\n")
    su = out.get("suite")
    if su:
        print("### Where the serial suite's time goes (median of the runs, seconds)\n")
        print(where_time_goes(su["where_time_goes"]) + "\n")
        if "where_time_goes_patched" in su:
            print("### The same with the safe patches\n")
            print(where_time_goes(su["where_time_goes_patched"]) + "\n")
    g = out.get("gameday")
    if g:
        print("### Harness overhead per gameday\n")
        print(gamedays_overhead(g) + "\n")
        print("### Harness overhead by stretch\n")
        print(overhead_by_phase(g) + "\n")
    pr = out.get("proposals")
    if pr:
        print("### Proposals, measured\n")
        print("| variant | cold start | close | CPU by ready |\n|---|---|---|---|")
        for label, v in pr["stack_patches"].items():
            print(
                f"| {label} | {_m(v['cold_start'], 's', 3)} | {_m(v['close'], 's', 3)} | "
                f"{_m(v['cpu_total_by_ready'], 's', 2)} |"
            )
        print()
        for label in ("gameday_stock", "gameday_patched"):
            if label in pr:
                x = pr[label]
                print(
                    f"- {label}: overhead {_m(x['overhead_pct'], '%', 1)}, "
                    f"detect poll {_m(x['detect_poll_interval'], 's', 3)}, "
                    f"verify poll {_m(x['verify_poll_interval'], 's', 3)}, "
                    f"main CPU {_m(x['main_cpu_s'], 's', 3)}"
                )


if __name__ == "__main__":
    main()
