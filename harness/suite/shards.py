"""`gameday merge DIR...`: the outputs of N shards (`gameday run --shard i/N`) as one run.

Each shard's results.json records every gameday its shard planned and what was expected of
it (`run.expected`) and which shard it was, so the merge knows what the whole run expected,
which gamedays or shards are missing, and exits as the unsharded run would: 0 when every
verdict is the expected one, 1 otherwise (or when a shard or a planned gameday is missing),
130 when a shard was interrupted; with `--history DIR`, as `gameday run --history` does (a
scheduled exercise: 1 only on a regression against the previous run in DIR).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from harness.errors import BadInput, OutputError
from harness.reports.json_results import Run, RunInfo, read_run, write_run
from harness.result import GamedayResult
from harness.suite.baseline import Expectation


def _key(result: GamedayResult) -> str:
    return f"{result.scenario}--{Path(result.runbook).stem}"


def merge_runs(runs: list[Run]) -> Run:
    """One run: every shard's results (a gameday in two shards is BadInput), the union of
    what they planned, interrupted if any shard was."""
    seen: dict[str, str] = {}
    results: list[GamedayResult] = []
    expected: dict[str, dict[str, str | None]] = {}
    runbooks: list[str] = []
    for run in runs:
        where = str(run.path or "?")
        for result in run.results:
            key = _key(result)
            if key in seen:
                raise BadInput(f"{where}: {key} is also in {seen[key]} (the same shard twice?)")
            seen[key] = where
            results.append(result)
        expected.update(run.info.expected or {})
        runbooks += [r for r in run.info.runbooks if r not in runbooks]
    order = {key: i for i, key in enumerate(expected)}
    results.sort(key=lambda r: (order.get(_key(r), len(order)), _key(r)))
    info = RunInfo.now(
        results,
        runbooks=runbooks,
        started_at=min((r.info.started_at for r in runs if r.info.started_at), default=""),
        interrupted=any(r.info.interrupted for r in runs),
    )
    info.expected = expected
    # Every shard ran on the same deployment and chaos layer: its drift and stand-ins are one.
    info.drift = next((r.info.drift for r in runs if r.info.drift), None)
    info.stand_ins = next((r.info.stand_ins for r in runs if r.info.stand_ins), [])
    return Run(info, results)


def missing_shards(runs: list[Run]) -> list[str]:
    """One line per shard of `i/N` not among the runs (BadInput: a shard given twice, or
    shards of different N)."""
    labels = [r.info.shard for r in runs if r.info.shard]
    if not labels:
        return []
    counts = {label.split("/")[1] for label in labels}
    if len(counts) > 1 or len(labels) != len(runs):
        raise BadInput(f"shards of different runs: {', '.join(r.info.shard or '-' for r in runs)}")
    if len(set(labels)) != len(labels):
        raise BadInput(f"the same shard twice: {', '.join(sorted(labels))}")
    n = int(counts.pop())
    return [f"shard {i}/{n}: not given, its gamedays have no result"
            for i in range(1, n + 1) if f"{i}/{n}" not in labels]  # fmt: skip


def unexpected(run: Run) -> list[str]:
    """One line per gameday whose verdict is not the expected one, or that never finished."""
    lines = []
    got = {_key(r): r for r in run.results}
    for key, exp in run.info.expected.items():
        result = got.get(key)
        if result is None:
            lines.append(f"{key}: planned by a shard, no result")
            continue
        why = Expectation(str(exp.get("verdict")), exp.get("resolution"), "",
                          str(exp.get("source") or "")).mismatch(result)  # fmt: skip
        if why is not None:
            lines.append(f"{key}: {why}")
    return lines


def merge_command(args: argparse.Namespace) -> int:
    from harness.suite import outputs

    runs = [read_run(d) for d in args.dirs]
    if any(not r.info.expected for r in runs):
        raise BadInput("a results.json without its plan (run.expected): merge only the outputs "
                       "of `gameday run --shard i/N`")  # fmt: skip
    missing = missing_shards(runs)
    merged = merge_runs(runs)
    out = Path(args.out)
    outputs.writable(out, "the output directory (--out)")
    chosen = outputs.targets(out, {"junit": args.junitxml})
    outputs.check(chosen)
    if args.history:
        outputs.writable(Path(args.history), "the history directory")
    try:
        path = write_run(out, merged.results, merged.info)
    except OutputError as exc:
        print(f"gameday: {exc} (nothing else written)", file=sys.stderr)
        return 1
    print(f"gameday: {len(merged.results)} result(s) from {len(runs)} shard(s) in {path}")
    for o in outputs.render(merged, chosen):
        if o.error is not None:
            print(f"gameday: {o.error}", file=sys.stderr)
        elif o.written:
            print(f"  {o.name}: {o.target}")
    lines = unexpected(merged) + missing
    for line in lines:
        print(f"  not as expected: {line}")
    if merged.info.interrupted:
        print("gameday: a shard was interrupted: the merged run is incomplete", file=sys.stderr)
        return 128 + signal.SIGINT
    if args.history:  # a scheduled exercise, as `gameday run --history` records one
        from harness.reports.exercise import record_exercise

        outcome = record_exercise(merged, Path(args.history))
        print(f"gameday: history: {len(outcome.regressions)} regression(s) against "
              f"{outcome.previous or 'nothing yet'}; {outcome.summary_path}")  # fmt: skip
        return max(outcome.exit_status, 1 if missing else 0)
    return 1 if lines else 0
