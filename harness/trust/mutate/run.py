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

from harness.errors import BadInput, HarnessError, RunbookError
from harness.result import GamedayResult, Verdict
from harness.run.gameday import Gameday, StackFactory
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook_text
from harness.trust.mutate.classify import UNEXPLAINED, classify_survivor, detector
from harness.trust.mutate.derive import Mutant, derive_mutants, exercised_steps
from harness.trust.mutate.record import MutantResult, MutationReport, OriginalRun, ScenarioOutcome
from harness.trust.mutate.render import score_line, table, to_markdown

TYPICAL_GAMEDAY_S = 10.0  # a gameday takes ~2-20 s on the local backend
ABORT_ATTEMPTS = 3


Progress = Callable[[str], None]


class MutationRun:
    """Derive the mutants of one runbook and run them against the selected scenarios."""

    def __init__(
        self,
        runbook_path: Path,
        scenarios: Sequence[Scenario],
        stack_factory: StackFactory,
        backend: str,
        max_mutants: int | None = None,
        only: Sequence[str] = (),
        progress: Progress = print,
        checkpoint: Callable[[MutationReport], None] | None = None,
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
        self.stack_factory = stack_factory
        all_mutants, self.untouched = derive_mutants(self.text, str(runbook_path), scenarios)
        if only:
            known = {m.id for m in all_mutants}
            unknown = [m for m in only if m not in known]
            if unknown:
                raise BadInput(
                    f"no mutant {unknown[0]!r} for these scenarios "
                    "(gameday mutate --list shows them)"
                )
            all_mutants = [m for m in all_mutants if m.id in only]
        self.total = len(all_mutants)
        self.mutants = all_mutants[:max_mutants] if max_mutants is not None else all_mutants
        self.backend = backend
        self.progress = progress
        self.checkpoint = checkpoint

    @property
    def gamedays(self) -> int:
        return len(self.scenarios) + sum(len(m.scenarios) for m in self.mutants)

    def estimate_s(self, per_scenario: dict[str, float] | None = None) -> float:
        def cost(sid: str) -> float:
            return (per_scenario or {}).get(sid, TYPICAL_GAMEDAY_S)

        mutants = sum(cost(s) for m in self.mutants for s in m.scenarios)
        return mutants + (0.0 if per_scenario else len(self.scenarios) * TYPICAL_GAMEDAY_S)

    def _gameday(self, runbook: Runbook, scenario: Scenario) -> GamedayResult:
        return Gameday(runbook, scenario, self.stack_factory).run()

    def _tested(self, runbook: Runbook, scenario: Scenario) -> GamedayResult | str:
        """A gameday that tested something, or why none did. ABORTED (the stack never came
        up or never reached steady state, the fault never took) happens before any runbook
        step can matter, so it says nothing about the mutant: such runs are retried."""
        why = ""
        for _ in range(ABORT_ATTEMPTS):
            try:
                result = self._gameday(runbook, scenario)
            except HarnessError as exc:
                why = f"{type(exc).__name__}: {exc}"
                continue
            if result.verdict != Verdict.ABORTED:
                return result
            why = f"aborted: {result.reason}"
        return f"{ABORT_ATTEMPTS} attempts, none tested anything; last: {why[:300]}"

    def run(self) -> MutationReport:
        started = time.monotonic()
        report = MutationReport(
            runbook=str(self.path),
            backend=self.backend,
            scenarios=list(self.scenarios),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            untouched=list(self.untouched),
            total_mutants=self.total,
        )
        originals: dict[str, GamedayResult] = {}
        for sid, scenario in self.scenarios.items():
            tested = self._tested(self.runbook, scenario)
            if isinstance(tested, str):
                raise HarnessError(f"the unmutated runbook's {sid} gameday: {tested}")
            result = originals[sid] = tested
            det = detector(result)
            report.originals[sid] = OriginalRun(
                sid,
                result.verdict.value,
                result.duration_s,
                det.line if det else None,
                result.ttd_s,
                result.ttr_s,
                result.reason,
            )
            self.progress(
                f"unmutated  {sid:<28} {result.verdict.value:<14} {result.duration_s:5.1f}s"
            )
        measured = {sid: r.duration_s for sid, r in originals.items()}
        self.progress(
            f"estimate from the unmutated runs: ~{_minutes(self.estimate_s(measured))} for "
            f"{sum(len(m.scenarios) for m in self.mutants)} mutant gamedays"
        )
        for index, mutant in enumerate(self.mutants, 1):
            outcome = self._run_mutant(mutant, originals)
            report.results.append(outcome)
            verdicts = ", ".join(f"{o.scenario}: {o.verdict}" for o in outcome.outcomes)
            self.progress(
                f"[{index}/{len(self.mutants)}] {mutant.id:<26} {outcome.status.upper():<8} "
                f"{verdicts or outcome.note}"
            )
            report.duration_s = time.monotonic() - started
            if self.checkpoint:
                self.checkpoint(report)
        report.duration_s = time.monotonic() - started
        report.finished = True
        if self.checkpoint:
            self.checkpoint(report)
        return report

    def _run_mutant(self, mutant: Mutant, originals: dict[str, GamedayResult]) -> MutantResult:
        try:
            runbook = parse_runbook_text(mutant.text, str(self.path))
            for sid in mutant.scenarios:
                exercised_steps(runbook, self.scenarios[sid])
        except (RunbookError, KeyError) as exc:
            return MutantResult(mutant, "invalid", note=f"the mutant does not parse: {exc}")
        result = MutantResult(mutant, "survived")
        for sid in mutant.scenarios:
            scenario, original = self.scenarios[sid], originals[sid]
            run = self._tested(runbook, scenario)
            if isinstance(run, str):  # the stack, not the runbook: no verdict to compare
                result.outcomes.append(
                    ScenarioOutcome(sid, original.verdict.value, "error", False, run)
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
            equivalent = not killed and UNEXPLAINED not in why
            result.outcomes.append(
                ScenarioOutcome(
                    sid,
                    original.verdict.value,
                    run.verdict.value,
                    killed,
                    why,
                    run.duration_s,
                    det.line if det else None,
                    run.ttr_s,
                    equivalent,
                )
            )
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
    from harness.options import report_writer, scenarios_from, stack_factory
    from harness.suite import catalog

    # The built-in scenarios plus the runbook's own <runbook>.scenarios.toml.
    scenarios = scenarios_from(args.scenario, catalog.for_runbook(args.runbook))
    if args.max_mutants is not None and args.max_mutants < 1:
        raise BadInput(f"--max-mutants must be at least 1, not {args.max_mutants}")
    backend, compose, factory = stack_factory(args.backend, args.compose)
    checkpoint = report_writer(args, to_markdown)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    run = MutationRun(
        Path(args.runbook),
        scenarios,
        factory,
        backend,
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
    say("")
    say(table(report))
    say("")
    for r in report.survived:
        for o in r.outcomes:
            say(f"survivor {r.mutant.id} (line {r.mutant.line}, {o.scenario}): {o.why}")
    say(score_line(report))
    return 0
