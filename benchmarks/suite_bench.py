"""The gameday suite timed from outside, three ways, all on the local backend:

    python -m pytest scenarios -m gameday -q -p no:cacheprovider --backend local       (serial)
    gameday run --backend local -q --out DIR          (the default: -j from cores and memory)
    python -m pytest scenarios -m gameday -q -p no:cacheprovider --backend local -n 2  (xdist)

Each run adds `--durations=0` (per-test call time), `--gameday-out DIR` (per-gameday
JSON: verdicts and event timelines) and `-p isolation_plugin` (one line per stack: worker,
ports, dir, lifetime), all negligible next to a gameday. Wall time is measured around
the pytest process. From the JSON: verdicts (compared between serial and `-n 2`), the
wall time per phase, and the fixed windows: `detect_window_s` spent in full by each
undetected gameday, `verify_window_s` by each not-recovered one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import REPO, loadavg, stats
from gameday_bench import phases

from harness.suite import catalog

BASE_CMD = [
    sys.executable,
    "-m",
    "pytest",
    "scenarios",
    "-m",
    "gameday",
    "-q",
    "-p",
    "no:cacheprovider",
]
BENCH_DIR = Path(__file__).resolve().parent
_SUMMARY = re.compile(r"(\d+) passed|(\d+) failed|(\d+) errors?|in ([\d.]+)s")
_DURATION = re.compile(r"^\s*([\d.]+)s call\s+(\S+)", re.M)


def run_suite(
    label: str,
    extra: list[str] | None = None,
    patches: str = "",
    durations_file: str | None = None,
    backend: str | None = "local",
    timeout: float = 1800,
) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"bench-suite-{label}-"))
    stacklog = out / "stacks.jsonl"
    cmd = [*BASE_CMD, *(extra or []), "--durations=0", "--gameday-out", str(out / "results")]
    cmd += ["-p", "isolation_plugin"]
    if patches or durations_file:
        cmd += ["-p", "fastpath_plugin"]
    if backend:
        cmd += ["--backend", backend]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(BENCH_DIR), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "GAMEDAY_BENCH_STACKLOG": str(stacklog),
        "GAMEDAY_BENCH_PATCHES": patches,
    }
    if durations_file:
        env["GAMEDAY_BENCH_DURATIONS"] = durations_file
    load_before = loadavg()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    text = proc.stdout + proc.stderr
    passed = failed = errors = 0
    reported = None
    summary_lines = [
        ln
        for ln in proc.stdout.splitlines()
        if re.search(r"(passed|failed|error|no tests ran).* in [\d.]+s", ln)
    ]
    tail = summary_lines[-1] if summary_lines else ""
    for m in _SUMMARY.finditer(tail):
        if m.group(1):
            passed = int(m.group(1))
        if m.group(2):
            failed = int(m.group(2))
        if m.group(3):
            errors = int(m.group(3))
        if m.group(4):
            reported = float(m.group(4))
    error_line = next((ln.strip() for ln in text.splitlines() if "DumpError" in ln), None) or next(
        (ln.strip() for ln in text.splitlines() if "Error:" in ln and "INTERNALERROR" in ln), None
    )
    durations = {nodeid: float(s) for s, nodeid in _DURATION.findall(text)}
    gamedays = read_gamedays(out / "results" / "results.json")
    stacks = (
        [json.loads(line) for line in stacklog.read_text().splitlines()]
        if stacklog.exists()
        else []
    )
    result = {
        "label": label,
        "command": " ".join(cmd[:1] + ["-m", "pytest", *cmd[3:]]),
        "patches": patches,
        "rc": proc.returncode,
        "wall": round(wall, 2),
        "pytest_reported": reported,
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "error_line": error_line,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "durations": durations,
        "gamedays": gamedays,
        "isolation": isolation(stacks),
        "output_tail": "\n".join(text.strip().splitlines()[-40:]) if proc.returncode else tail,
    }
    _cleanup(out)
    return result


def read_gamedays(results_json: Path) -> list[dict[str, Any]]:
    """Verdict, duration, fixed window and phases of each gameday of a results.json."""
    try:
        records = json.loads(results_json.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    gamedays = []
    for r in records:
        scenario = catalog.for_runbook(r["runbook"]).get(r["scenario"])
        if scenario is None:
            continue
        gamedays.append(
            {
                "scenario": r["scenario"],
                "runbook": Path(r["runbook"]).stem,
                "verdict": r["verdict"],
                "duration_s": r["duration_s"],
                "ttd_s": r.get("ttd_s"),
                "ttr_s": r.get("ttr_s"),
                "window": fixed_window(r, scenario),
                "phases": phases(r, scenario),
            }
        )
    return gamedays


def run_cli(label: str, jobs: int | None = None, timeout: float = 1800) -> dict[str, Any]:
    """`gameday run` as a user runs it (default -j unless `jobs`), timed around the process."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-suite-{label}-"))
    cmd = [sys.executable, "-m", "harness.cli", "run", "--backend", "local", "-q"]
    cmd += ["--out", str(out / "results"), *(["-j", str(jobs)] if jobs else [])]
    load_before = loadavg()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    results_json = out / "results" / "results.json"
    gamedays = read_gamedays(results_json)
    text = proc.stdout + proc.stderr
    result = {
        # why a run has no gamedays, when it has none: no file, or one the catalog cannot map
        "results_json": "missing"
        if not results_json.exists()
        else f"{results_json.stat().st_size} bytes",
        "label": label,
        "command": "gameday " + " ".join(cmd[3:]).replace(str(out / "results"), "DIR"),
        "patches": "",
        "rc": proc.returncode,
        "wall": round(wall, 2),
        "pytest_reported": None,
        "passed": len(gamedays),
        "failed": 0,
        "errors": 0,
        "error_line": None,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "durations": {},
        "gamedays": gamedays,
        "isolation": {},
        # gameday run exits non-zero when a verdict differs from the runbook's baseline file
        "output_tail": "\n".join(text.strip().splitlines()[-40:]),
    }
    _cleanup(out)
    return result


def _cleanup(out: Path) -> None:
    import shutil

    shutil.rmtree(out, ignore_errors=True)


def fixed_window(r: dict[str, Any], scenario: Any) -> dict[str, Any] | None:
    """The designed wait this verdict spent in full, if any."""
    if r["verdict"] == "undetected":
        return {"kind": "detect_window_s", "s": min(scenario.detect_window_s, r["budget_s"])}
    if r["verdict"] == "not-recovered":
        return {"kind": "verify_window_s", "s": scenario.verify_window_s}
    return None


def isolation(stacks: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacks alive at the same time: did any two share a port or a dir?"""
    overlapping = conflicts = 0
    details = []
    for i, a in enumerate(stacks):
        for b in stacks[i + 1 :]:
            if a.get("born") is None or b.get("born") is None:
                continue
            if a["born"] < b["closed"] and b["born"] < a["closed"]:
                overlapping += 1
                shared = sorted(set(a["ports"]) & set(b["ports"]))
                if shared or a["dir"] == b["dir"]:
                    conflicts += 1
                    details.append({"a": a["stack"], "b": b["stack"], "ports": shared})
    return {
        "stacks": len(stacks),
        "workers": sorted({s["worker"] for s in stacks}),
        "concurrent_pairs": overlapping,
        "conflicts": conflicts,
        "conflict_details": details[:10],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r["rc"] == 0]
    sums = [sum(g["duration_s"] for g in r["gamedays"]) for r in runs]
    windows = [sum(g["window"]["s"] for g in r["gamedays"] if g["window"]) for r in runs]
    return {
        "wall": stats(r["wall"] for r in runs),
        "all_passed": all(r["rc"] == 0 for r in runs),
        "passed": [r["passed"] for r in runs],
        "failed": [r["failed"] for r in runs],
        "runs_ok": len(ok),
        "fixed_windows_s": stats(windows),
        "sum_of_gamedays_s": stats(sums),
        "gamedays": [len(r["gamedays"]) for r in runs],
        "longest_gameday_s": stats(
            max((g["duration_s"] for g in r["gamedays"]), default=0) for r in runs
        ),
        "loadavg": [r["loadavg_before"] for r in runs],
    }


def verdicts(run: dict[str, Any]) -> dict[str, str]:
    return {f"{g['scenario']}--{g['runbook']}": g["verdict"] for g in run["gamedays"]}


def where_time_goes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per gameday (median over runs): duration, phases, fixed window."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        for g in r["gamedays"]:
            by.setdefault(f"{g['scenario']}--{g['runbook']}", []).append(g)
    table = {}
    for key, gs in sorted(by.items()):
        phase_names = sorted({p for g in gs for p in g["phases"]})
        table[key] = {
            "verdict": gs[0]["verdict"],
            "duration_s": stats(g["duration_s"] for g in gs)["median"],
            "window_s": gs[0]["window"]["s"] if gs[0]["window"] else 0.0,
            "window_kind": gs[0]["window"]["kind"] if gs[0]["window"] else "",
            "phases": {
                p: stats(g["phases"].get(p, 0.0) for g in gs)["median"] for p in phase_names
            },
        }
    totals: dict[str, float] = {}
    for row in table.values():
        for p, v in row["phases"].items():
            totals[p] = round(totals.get(p, 0.0) + v, 2)
    return {
        "gamedays": table,
        "sum_duration_s": round(sum(r["duration_s"] for r in table.values()), 2),
        "sum_windows_s": round(sum(r["window_s"] for r in table.values()), 2),
        "phase_totals_s": totals,
    }


def durations_file(runs: list[dict[str, Any]]) -> str:
    """Median per-test call duration of the runs, for lpt_order."""
    merged: dict[str, list[float]] = {}
    for r in runs:
        for k, v in r["durations"].items():
            merged.setdefault(k, []).append(v)
    med = {k: stats(v)["median"] for k, v in merged.items()}
    fd, path = tempfile.mkstemp(prefix="bench-durations-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(med, f)
    return path
