"""Runbook mutation testing: which runbook steps does a gameday really check?

    runbook text ──derive──▶ mutants ──▶ for each scenario exercising the mutated step:
       Gameday(mutant runbook, scenario).run() ──▶ verdict vs the unmutated runbook's verdict
                                                    differs: KILLED  │  same: SURVIVED (+ why)

`derive.py` makes the mutants, `classify.py` says why a survivor survived, `record.py` is
the record of a run, `render.py` its views; this module runs the gamedays.

A mutant is *killed* when at least one of its scenarios gives a different verdict than on
the unmutated runbook; the score is killed / (killed + survived). A survivor is a runbook
step the gameday does not really check; where the record of the two runs shows why, the
survivor is classified (another detection step detected first, the step is manual, the
step only reads state, another step does the same, ...).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harness.backends import choose_backend
from harness.compose import ComposeFile
from harness.errors import BadInput, HarnessError, RunbookError
from harness.result import GamedayResult, Verdict
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook_text
from harness.suite.execute import Job
from harness.trust.batch import Batch, job, renamed, run_batch
from harness.trust.mutate.classify import UNEXPLAINED, classify_survivor, detector
from harness.trust.mutate.derive import Mutant, derive_mutants, exercised_steps
from harness.trust.mutate.record import MutantResult, MutationReport, OriginalRun, ScenarioOutcome
from harness.trust.mutate.render import score_line, table, to_markdown

TYPICAL_GAMEDAY_S = 10.0  # a gameday takes ~2-20 s on the local backend
ABORT_ATTEMPTS = 3


Progress = Callable[[str], None]


class MutationRun:
    """Derive the mutants of one runbook and run them against the selected scenarios, on
    the executor: the unmutated gamedays first (the reference verdicts), then every
    mutant × scenario gameday in one batch, concurrently, longest first."""

    def __init__(
        self,
        runbook_path: Path,
        scenarios: Sequence[Scenario],
        backend: str,
        compose: ComposeFile,
        max_mutants: int | None = None,
        only: Sequence[str] = (),
        progress: Progress = print,
        checkpoint: Callable[[MutationReport], None] | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.path = runbook_path
        self.text = _read_text(runbook_path)
        self.runbook = parse_runbook_text(self.text, str(runbook_path))
        for scenario in scenarios:
            try:
                exercised_steps(self.runbook, scenario)
            except KeyError as exc:
                raise BadInput(f"{runbook_path}: scenario {scenario.id}: {exc.args[0]}") from None
        self.scenarios = {s.id: s for s in scenarios}
        all_mutants, self.untouched = derive_mutants(self.text, str(runbook_path), scenarios)
        if only:
            unknown = [m for m in only if m not in {m.id for m in all_mutants}]
            if unknown:
                raise BadInput(
                    f"no mutant {unknown[0]!r} for these scenarios "
                    "(gameday mutate --list shows them)"
                )
            all_mutants = [m for m in all_mutants if m.id in only]
        self.total = len(all_mutants)
        self.mutants = all_mutants[:max_mutants] if max_mutants is not None else all_mutants
        self.backend, self.compose, self.concurrency = backend, compose, concurrency
        self.progress = progress
        self.checkpoint = checkpoint
        self.interrupted_by: int | None = None  # the signal that cut the run short

    @property
    def gamedays(self) -> int:
        return len(self.scenarios) + sum(len(m.scenarios) for m in self.mutants)

    def estimate_s(self, per_scenario: dict[str, float] | None = None) -> float:
        def cost(sid: str) -> float:
            return (per_scenario or {}).get(sid, TYPICAL_GAMEDAY_S)

        mutants = sum(cost(s) for m in self.mutants for s in m.scenarios)
        return mutants + (0.0 if per_scenario else len(self.scenarios) * TYPICAL_GAMEDAY_S)

    def _batch(self, jobs: list[Job], previous: dict[str, float] | None = None) -> Batch:
        def said(result: GamedayResult) -> None:
            name = Path(result.runbook).stem.partition("~")[2] or "unmutated"
            self.progress(
                f"{name:<26} {result.scenario:<28} {result.verdict.value:<14} "
                f"{result.duration_s:5.1f}s"
            )

        batch = run_batch(
            jobs, self.backend, self.compose, concurrency=self.concurrency, previous=previous,
            progress=said, retry_aborted=ABORT_ATTEMPTS - 1,
        )  # fmt: skip
        self.interrupted_by = self.interrupted_by or batch.interrupted_by
        return batch

    def run(self) -> MutationReport:
        """The report; on a signal, the mutants whose gamedays all finished (`finished`
        false, `interrupted_by` set)."""
        started = time.monotonic()
        report = MutationReport(
            runbook=str(self.path),
            backend=self.backend,
            scenarios=list(self.scenarios),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            untouched=list(self.untouched),
            total_mutants=self.total,
        )
        originals = self._originals(report)
        if self.interrupted_by is None:
            self._mutants(report, originals)
        report.duration_s = time.monotonic() - started
        report.finished = self.interrupted_by is None
        if self.checkpoint:
            self.checkpoint(report)
        return report

    def _originals(self, report: MutationReport) -> dict[str, GamedayResult]:
        jobs = {sid: job(self.runbook, s) for sid, s in self.scenarios.items()}
        batch = self._batch(list(jobs.values()))
        originals: dict[str, GamedayResult] = {}
        for sid, j in jobs.items():
            result = batch.results.get(j.key)
            if self.interrupted_by is not None:
                continue
            if result is None or result.verdict == Verdict.ABORTED:
                why = f"aborted: {result.reason[:300]}" if result else "no result"
                raise HarnessError(
                    f"the unmutated runbook's {sid} gameday: {ABORT_ATTEMPTS} attempts, none "
                    f"tested anything; last: {why}"
                )
            originals[sid] = result
            det = detector(result)
            report.originals[sid] = OriginalRun(
                sid, result.verdict.value, result.duration_s, det.line if det else None,
                result.ttd_s, result.ttr_s, result.reason,
            )  # fmt: skip
        measured = {sid: r.duration_s for sid, r in originals.items()}
        if originals:
            self.progress(
                f"estimate from the unmutated runs: ~{_minutes(self.estimate_s(measured))} of "
                f"gamedays for {sum(len(m.scenarios) for m in self.mutants)} mutant gamedays"
            )
        return originals

    def _mutants(self, report: MutationReport, originals: dict[str, GamedayResult]) -> None:
        parsed: dict[str, Runbook] = {}
        invalid: dict[str, MutantResult] = {}
        for mutant in self.mutants:
            try:
                runbook = parse_runbook_text(mutant.text, str(self.path))
                for sid in mutant.scenarios:
                    exercised_steps(runbook, self.scenarios[sid])
            except (RunbookError, KeyError) as exc:
                note = f"the mutant does not parse: {exc}"
                invalid[mutant.id] = MutantResult(mutant, "invalid", note=note)
                continue
            parsed[mutant.id] = renamed(runbook, mutant.id)
        jobs = {
            (m.id, sid): job(parsed[m.id], self.scenarios[sid], str(self.path))
            for m in self.mutants if m.id in parsed for sid in m.scenarios
        }  # fmt: skip
        took = {j.key: originals[sid].duration_s for (_, sid), j in jobs.items()}
        batch = self._batch(list(jobs.values()), took)
        for index, mutant in enumerate(self.mutants, 1):
            if mutant.id in invalid:
                outcome = invalid[mutant.id]
            else:
                runs = [batch.results.get(jobs[mutant.id, sid].key) for sid in mutant.scenarios]
                if any(r is None for r in runs):  # interrupted before all of its gamedays ended
                    continue
                outcome = self._judged(mutant, originals, [r for r in runs if r is not None])
            report.results.append(outcome)
            verdicts = ", ".join(f"{o.scenario}: {o.verdict}" for o in outcome.outcomes)
            self.progress(
                f"[{index}/{len(self.mutants)}] {mutant.id:<26} {outcome.status.upper():<8} "
                f"{verdicts or outcome.note}"
            )

    def _judged(
        self, mutant: Mutant, originals: dict[str, GamedayResult], runs: list[GamedayResult]
    ) -> MutantResult:
        result = MutantResult(mutant, "survived")
        for sid, run in zip(mutant.scenarios, runs, strict=True):
            scenario, original = self.scenarios[sid], originals[sid]
            if run.verdict == Verdict.ABORTED:  # the stack, not the runbook: nothing to compare
                why = f"{ABORT_ATTEMPTS} attempts, none tested anything; last: {run.reason[:300]}"
                result.outcomes.append(
                    ScenarioOutcome(sid, original.verdict.value, "error", False, why)
                )
                continue
            killed = run.verdict != original.verdict
            if killed:
                why = f"{original.verdict.value} → {run.verdict.value}" + (
                    f": {run.reason[:300]}" if run.reason else ""
                )
            else:
                why = classify_survivor(mutant, scenario, self.runbook, original, run)
            det = detector(run)
            result.outcomes.append(
                ScenarioOutcome(
                    sid, original.verdict.value, run.verdict.value, killed, why, run.duration_s,
                    det.line if det else None, run.ttr_s, not killed and UNEXPLAINED not in why,
                )
            )  # fmt: skip
        if any(o.killed for o in result.outcomes):
            result.status = "killed"
        elif result.outcomes and all(o.verdict == "error" for o in result.outcomes):
            result.status = "error"
        return result


def _read_text(path: Path) -> str:
    """The runbook's text; unreadable or non-UTF-8 input fails as the parser reports it."""
    from harness.runbook.parse import parse_runbook_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunbookError(str(path), None, f"cannot read runbook: {exc.strerror or exc}") from None
    parse_runbook_bytes(data, str(path))  # NUL bytes, bad UTF-8, structure: file and line
    return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main(args: Any, out: TextIO = sys.stdout) -> int:
    """`gameday mutate`: validate everything, print the estimate, run, print the table."""
    from harness.options import check_compose, report_writer, scenarios_from
    from harness.suite import catalog

    # The built-in scenarios plus the runbook's own <runbook>.scenarios.toml.
    scenarios = scenarios_from(args.scenario, catalog.for_runbook(args.runbook))
    if args.max_mutants is not None and args.max_mutants < 1:
        raise BadInput(f"--max-mutants must be at least 1, not {args.max_mutants}")
    backend, compose = choose_backend(args.backend), check_compose(args.compose)
    checkpoint = report_writer(args, to_markdown)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    run = MutationRun(
        Path(args.runbook),
        scenarios,
        backend,
        compose,
        max_mutants=args.max_mutants,
        only=args.mutant,
        progress=say,
        checkpoint=checkpoint,
    )
    say(
        f"{run.total} mutants of {run.path} for {len(scenarios)} scenario(s)"
        + (f"; running the first {len(run.mutants)}" if len(run.mutants) < run.total else "")
        + f": {run.gamedays} gamedays, estimated ~{_minutes(run.estimate_s())} "
        f"(a gameday takes ~2-20 s)"
    )
    if args.list:
        for m in run.mutants:
            say(f"{m.id:<26} {m.role:<10} {m.description}  [{', '.join(m.scenarios)}]")
        return 0
    try:
        report = run.run()
    except BadInput:
        raise
    except HarnessError as exc:  # the stack cannot give a reference verdict: nothing to compare
        print(f"gameday: mutate: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    if run.interrupted_by is not None:
        say(f"interrupted: {len(report.results)} of {len(run.mutants)} mutants finished")
    say("")
    say(table(report))
    say("")
    for r in report.survived:
        for o in r.outcomes:
            say(f"survivor {r.mutant.id} (line {r.mutant.line}, {o.scenario}): {o.why}")
    say(score_line(report))
    return 0 if run.interrupted_by is None else 128 + run.interrupted_by
