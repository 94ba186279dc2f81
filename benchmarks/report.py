"""Markdown views of a `benchmarks/run.py` JSON, for docs/performance.md:

    python benchmarks/report.py [benchmarks/latest.json]                 # print them
    python benchmarks/report.py benchmarks/latest.json --doc docs/performance.md

The figures table, the suite three ways side by side, where the serial suite's time goes
(per gameday and phase, fixed windows apart), the harness overhead per gameday and by
stretch, and the applied changes before/after. --doc rewrites each
`<!-- generated:NAME -->…<!-- /generated:NAME -->` block of the page and nothing else.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import table, verdict_check  # noqa: E402


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


def suite_side_by_side(su: dict[str, Any]) -> str:
    lines = [
        "| how | command | wall (median, min–max) | sum of gameday durations "
        "| verdicts as serial |",
        "|---|---|---|---|---|",
    ]
    names = {
        "serial": "serial",
        "gameday_run": f"default `gameday run` (-j {su.get('default_jobs')})",
        "n2": "`pytest -n 2`",
    }
    for label, name in names.items():
        if label not in su:
            continue
        summary = su[label]["summary"]
        command = su[label]["runs"][0]["command"] if su[label]["runs"] else ""
        compared, agree, _ = verdict_check(su, label)
        same = f"{agree} of {compared} runs" + (
            f" ({len(su[label]['runs']) - compared} left no results)"
            if compared < len(su[label]["runs"])
            else ""
        )
        lines.append(
            f"| {name} | `{command}` | {_m(summary['wall'], 's', 1)} | "
            f"{_m(summary['sum_of_gamedays_s'], 's', 1)} | {same} |"
        )
    return "\n".join(lines)


def applied(pr: dict[str, Any]) -> str:
    ba = pr["before_after"]
    lines = [
        f"| figure | before ({ba['commit_before']}) | after |",
        "|---|---|---|",
    ]
    for key, name in (
        ("cold_start", "local stack cold start"),
        ("close", "local stack close"),
        ("cpu_total_by_ready", "CPU of the stack's processes by ready"),
    ):
        lines.append(
            f"| {name} | {_m(ba['before'][key], 's', 3)} | {_m(ba['after'][key], 's', 3)} |"
        )
    bc = pr["bridged_call"]
    lines.append(
        f"| one bridged call (`bash -c 'docker ps'`) | {_m(bc.get('python_shim'), 's', 3)} "
        f"(python -S shim) | {_m(bc.get('lean_shim'), 's', 3)} (lean shim) |"
    )
    rs = pr["reaper_start"]
    lines.append(
        f"| reaper start, CPU | {_m(rs['as_module']['cpu'], 's', 3)} (`-m`) | "
        f"{_m(rs['as_script_IS']['cpu'], 's', 3)} (script, `-I -S`) |"
    )
    tls = pr["tls_context"]
    lines.append(
        f"| building an httpx client, CPU | {_m(tls['default'], 's', 3)} (CA bundle each time) | "
        f"{_m(tls['shared_context'], 's', 3)} (one shared context) |"
    )
    tc = pr["template_copy"]
    if "dev_shm" in tc:
        lines.append(
            f"| PostgreSQL volume copy ({tc['template_mb']} MB, {tc['template_files']} files) | "
            f"{_m(tc['default_tmp'], 's', 3)} (/tmp) | {_m(tc['dev_shm'], 's', 3)} (/dev/shm) |"
        )
    return "\n".join(lines)


def blocks(out: dict[str, Any]) -> dict[str, str]:
    """The generated parts of docs/performance.md, by name."""
    m = out["machine"]
    found = {
        "table": "```\n" + table(out) + "\n```",
        "run": (
            f"Run {out.get('started', '?')} → {out.get('finished', '?')}, commit "
            f"{m.get('git', {}).get('commit', '?')}, load average {m['loadavg_at_start'][0]:.1f} "
            f"at start and {m.get('loadavg_at_end', [0])[0]:.1f} at the end (other engineers' "
            "test runs shared the 2 cores)."
        ),
    }
    if out.get("merged_from"):
        found["run"] += (
            f" Sections {', '.join(out.get('sections', []))} merged: the ones not re-run keep "
            f"their figures from the run started {out['merged_from']}."
        )
    su = out.get("suite")
    if su:
        loads = [
            x for label in ("serial", "gameday_run", "n2") for x in su[label]["summary"]["loadavg"]
        ]
        found["run"] += f" Load average before each suite run: {min(loads):.1f}–{max(loads):.1f}."
    su = out.get("suite")
    if su:
        found["suite"] = suite_side_by_side(su)
        found["where"] = where_time_goes(su["where_time_goes"])
    g = out.get("gameday")
    if g:
        found["gamedays"] = gamedays_overhead(g)
        found["stretch"] = overhead_by_phase(g)
    pr = out.get("proposals")
    if pr and "before_after" in pr:
        found["applied"] = applied(pr)
    return found


def fill(doc: str, found: dict[str, str]) -> str:
    """Replace each `<!-- generated:NAME -->…<!-- /generated:NAME -->` block's body."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in found:
            return m.group(0)
        return f"<!-- generated:{name} -->\n{found[name]}\n<!-- /generated:{name} -->"

    return re.sub(
        r"<!-- generated:([\w-]+) -->.*?<!-- /generated:\1 -->", one, doc, flags=re.DOTALL
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("json", nargs="?", default=str(Path(__file__).parent / "latest.json"))
    ap.add_argument("--doc", help="rewrite the generated blocks of this Markdown file in place")
    args = ap.parse_args()
    out = json.loads(Path(args.json).read_text())
    found = blocks(out)
    if args.doc:
        doc = Path(args.doc)
        doc.write_text(fill(doc.read_text(), found))
        print(f"updated {', '.join(sorted(found))} in {doc}")
        return
    for name, text in found.items():
        print(f"### {name}\n\n{text}\n")


if __name__ == "__main__":
    main()
