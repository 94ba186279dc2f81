"""The gameday runner: one scenario, one stack, one `GamedayResult`.

    up ─▶ steady state ─▶ baseline (negative control) ─▶ load ─▶ inject (t0)
          (probes pass,     each detection step once       │
           else ABORTED)    on the healthy stack           ▼
                                                 detect: poll detection steps until one's
                                                 exit status differs from its baseline (TTD)
                                                           │ none within window: UNDETECTED
                                                           ▼
                                         resolve: every resolution step, in order, as written
                                                           ▼
                            verify: probes pass + real generate round trip (TTR) + ledger
                                                           ▼
                          RECOVERED (TTR ≤ SEV budget) │ SLOW │ NOT-RECOVERED │ DATA-LOSS

All times come from one monotonic clock, relative to the start of the gameday.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from harness.backends.base import Stack, Status
from harness.bridge.humanize import status_text
from harness.bridge.server import BridgeServer
from harness.bridge.shell import OperatorShell, Outcome
from harness.errors import StackError
from harness.faults.base import Fault, FaultNotTaken
from harness.load import Load, unreadable_jobs
from harness.probes import postgres_login, steady_state
from harness.redact import Redactor
from harness.result import Event, GamedayResult, Impact, StepRun, StepStatus, Verdict
from harness.runbook_model import Role, Runbook, Section, Step
from harness.scenario import Scenario

DETECTION_ROLES = (Role.DETECTION, Role.INVESTIGATION)
StackFactory = Callable[[dict[str, str]], Stack]


def operator_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The on-call engineer's shell: provider keys from the real environment if present,
    else throwaway ones (the mock provider only checks that a key is sent)."""
    env = {
        "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY") or f"sk-gameday-{secrets.token_hex(12)}",
        "ANTHROPIC_API_KEY": os.environ.get("ANTHROPIC_API_KEY")
        or f"sk-ant-gameday-{secrets.token_hex(12)}",
    }
    env.update(extra or {})
    return env


class Gameday:
    def __init__(
        self,
        runbook: Runbook,
        scenario: Scenario,
        stack_factory: StackFactory,
        poll_interval: float = 0.1,
        step_timeout: float = 20.0,
    ) -> None:
        self.runbook, self.scenario = runbook, scenario
        self.section: Section = runbook.section(scenario.section)
        self.stack_factory = stack_factory
        self.poll_interval = poll_interval
        self.step_timeout = step_timeout
        self._t_start = time.monotonic()
        level = scenario.severity or (self.section.severities[0] if self.section.severities else 1)
        self.severity = runbook.severities[level]
        self.redact = Redactor()
        self._load: Load | None = None

    def now(self) -> float:
        return time.monotonic() - self._t_start

    def event(self, result: GamedayResult, kind: str, detail: str = "") -> None:
        result.events.append(Event(round(self.now(), 4), kind, self.redact(detail)))
        phase_file = os.environ.get("GAMEDAY_PHASE_FILE")  # lets tests interrupt at a phase
        if phase_file:
            with open(phase_file, "a") as f:
                f.write(kind + "\n")

    # -- the flow -------------------------------------------------------------------
    def run(self) -> GamedayResult:
        fault = self.scenario.fault()
        result = GamedayResult(
            scenario=self.scenario.id,
            title=self.scenario.title,
            section=self.section.title,
            runbook=self.runbook.path,
            backend="?",
            declared_severity=self.severity.level,
            budget_s=self.severity.response_time.total_seconds(),
            fault=fault.kind,
            fault_description=fault.description,
            poll_interval_s=self.poll_interval,
            started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )
        self._t_start = time.monotonic()
        env = operator_environment(dict(self.scenario.stack_env))
        self.redact.add_env(env)
        stack = self.stack_factory(env)
        result.backend = stack.backend_name
        bridge: BridgeServer | None = None
        load: Load | None = None
        self._load = None
        try:
            try:
                stack.up()
            except StackError as exc:
                result.verdict, result.reason = Verdict.ABORTED, f"the stack did not come up: {exc}"
                self.event(result, "verdict", result.reason)
                return result
            self.event(result, "up", f"{stack.backend_name} stack ready")
            result.notes.extend(stack.info.notes)
            bridge = BridgeServer(stack, stack.info.workdir.parent / "run" / "bridge")
            shell = OperatorShell(stack, bridge, self.redact, env, self.step_timeout)
            self._gameday(stack, shell, fault, result)
        finally:
            load = self._load
            if load is not None:
                load.stop()
                self._impact(result, load)
            try:
                fault.cleanup(stack)
            finally:
                if bridge is not None:
                    bridge.close()
                stack.close()
            result.duration_s = round(self.now(), 3)
        return result

    def _gameday(
        self,
        stack: Stack,
        shell: OperatorShell,
        fault: Fault,
        result: GamedayResult,
    ) -> None:
        # Steady state: the harness's probes, then each detection step as a negative control.
        holds, observed = self._await_steady_state(stack)
        self.event(result, "steady-state", observed)
        if not holds:
            result.verdict, result.reason = Verdict.ABORTED, f"steady state never held: {observed}"
            return
        detection = self._detection_steps()
        baseline: dict[int, int | None] = {}
        for step in detection:
            first = shell.run(step)
            second = shell.run(step) if first.manual_reason is None else first
            baseline[step.line] = first.exit_code
            run = self._step_run("steady-state", step, first, start=self.now() - first.duration)
            result.steps.append(run)
            if first.manual_reason is None and (
                first.exit_code != second.exit_code or first.timed_out
            ):
                result.noisy_steps.append(f"line {step.line}: {step.command}")
        self.event(result, "baseline", f"{len(detection)} detection steps ran on the healthy stack")

        load = self._load = Load(stack, self.now).start()
        warm_deadline = time.monotonic() + 5
        while len(load.acknowledged) < 5 and time.monotonic() < warm_deadline:
            time.sleep(0.02)

        # Inject at t0 and confirm the fault took, independently of the runbook.
        t0 = self.now()
        result.t0 = round(t0, 4)
        fault.inject(stack)
        self.event(result, "inject", fault.description)
        try:
            evidence = fault.wait_confirmed(stack)
        except FaultNotTaken as exc:
            result.verdict, result.reason = Verdict.ABORTED, str(exc)
            return
        self.event(result, "fault-confirmed", evidence)

        # Detect: poll the detection steps until one's exit status leaves its baseline.
        budget = result.budget_s
        window = min(self.scenario.detect_window_s, budget)
        eligible = [
            s
            for s in detection
            if baseline.get(s.line) is not None
            and f"line {s.line}: {s.command}" not in result.noisy_steps
        ]
        detected_by: StepRun | None = None
        last_runs: dict[int, StepRun] = {}
        rounds = 0
        while detected_by is None and self.now() - t0 < window:
            rounds += 1
            for step in eligible:
                start = self.now()
                outcome = shell.run(step)
                run = self._step_run("detect", step, outcome, start, baseline[step.line])
                last_runs[step.line] = run
                if outcome.exit_code != baseline[step.line]:
                    run.detected = True
                    detected_by = run
                    break
            if detected_by is None:
                time.sleep(self.poll_interval)
        result.steps.extend(last_runs.values())
        if detected_by is None:
            result.verdict = Verdict.UNDETECTED
            result.reason = (
                f"no detection step of '{self.section.title}' changed its exit status "
                f"within {window:.0f}s ({rounds} polling rounds; "
                f"{len(eligible)} runnable steps, {len(detection) - len(eligible)} manual or noisy)"
            )
            return
        t_detect = detected_by.started + detected_by.duration
        result.ttd_s = round(t_detect - t0, 4)
        self.event(
            result,
            "detected",
            f"line {detected_by.line}: {detected_by.command} "
            f"(exit {detected_by.exit_code}, was {detected_by.baseline_exit})",
        )
        if self.scenario.lift == "after-detection":
            fault.lift(stack)
            self.event(result, "lift", "the fault's external cause went away")

        # Resolve: every resolution step, in runbook order, exactly as written.
        failed_steps = []
        lost_after: str | None = None
        removals = len(stack.volume_removals)
        for step in self.section.steps_with_role(Role.RESOLUTION):
            start = self.now()
            outcome = shell.run(step)
            run = self._step_run("resolve", step, outcome, start)
            result.steps.append(run)
            self.event(
                result,
                "step",
                f"line {step.line}: {run.status.value}"
                + (f" (exit {run.exit_code})" if run.exit_code is not None else ""),
            )
            if run.status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
                failed_steps.append(run)
            if lost_after is None and (
                len(stack.volume_removals) > removals or self._jobs_table_emptied(stack)
            ):
                lost_after = f"line {step.line} `{step.command}`"
                self.event(result, "data-destroyed", f"{lost_after} destroyed the database's data")
        if self.scenario.lift == "after-resolution":
            fault.lift(stack)
            self.event(result, "lift", "the fault's external cause went away")

        # Verify: the harness's own probes, a real round trip, the ledger.
        deadline = time.monotonic() + self.scenario.verify_window_s
        holds, observed = steady_state(stack)
        while not holds and time.monotonic() < deadline:
            time.sleep(self.poll_interval)
            holds, observed = steady_state(stack)
        if not holds:
            result.verdict = Verdict.NOT_RECOVERED
            result.reason = self._not_recovered_reason(stack, shell, observed, failed_steps, fault)
            if lost_after:
                result.reason += f"; and {lost_after} destroyed the database's data"
            self.event(result, "verdict", result.reason)
            return
        t_recovered = self.now()
        result.ttr_s = round(t_recovered - t0, 4)
        self.event(result, "recovered", observed)
        load.stop()
        acked = list(load.acknowledged)
        lost = unreadable_jobs(stack, acked)
        result.ledger.acknowledged, result.ledger.verified, result.ledger.lost = (
            len(acked),
            len(acked) - len(lost),
            lost[:50],
        )
        if lost:
            result.verdict = Verdict.DATA_LOSS
            culprit = f" after {lost_after}" if lost_after else ""
            result.reason = (
                f"{len(lost)} of {len(acked)} acknowledged jobs are no longer readable{culprit}"
            )
        elif result.ttr_s <= result.budget_s:
            result.verdict = Verdict.RECOVERED
        else:
            result.verdict = Verdict.SLOW
            result.reason = f"recovered after {result.ttr_s:.1f}s, budget {result.budget_s:.0f}s"
        if failed_steps and result.verdict in (Verdict.RECOVERED, Verdict.SLOW):
            result.notes.append(
                "resolution steps that failed but did not prevent recovery: "
                + "; ".join(f"line {s.line} `{s.command}` exit {s.exit_code}" for s in failed_steps)
            )
        self.event(result, "verdict", result.verdict.value)

    # -- helpers ----------------------------------------------------------------------
    def _detection_steps(self) -> list[Step]:
        steps = self.section.steps_with_role(*DETECTION_ROLES)
        for title in self.scenario.steps_from:
            steps += self.runbook.section(title).steps_with_role(*DETECTION_ROLES)
        return steps

    def _await_steady_state(self, stack: Stack, timeout: float = 20.0) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        holds, observed = steady_state(stack)
        while not holds and time.monotonic() < deadline:
            time.sleep(0.05)
            holds, observed = steady_state(stack)
        return holds, observed

    def _step_run(
        self, phase: str, step: Step, outcome: Outcome, start: float, baseline: int | None = None
    ) -> StepRun:
        if outcome.manual_reason is not None:
            status = StepStatus.MANUAL
        elif outcome.timed_out:
            status = StepStatus.TIMED_OUT
        else:
            status = StepStatus.OK if outcome.exit_code == 0 else StepStatus.FAILED
        return StepRun(
            phase=phase,
            section=step.section,
            comment=step.comment,
            command=step.command,
            line=step.line,
            role=step.role.value,
            status=status,
            exit_code=outcome.exit_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            started=round(start, 4),
            duration=round(outcome.duration, 4),
            manual_reason=outcome.manual_reason,
            baseline_exit=baseline,
        )

    def _jobs_table_emptied(self, stack: Stack) -> bool:
        """Observer check straight at PostgreSQL: did a step wipe the jobs table?"""
        import psycopg

        try:
            host, port = stack.endpoint("postgres", 5432)
            with psycopg.connect(
                host=host,
                port=port,
                **postgres_login(stack),
                connect_timeout=1,
            ) as conn:
                row = conn.execute(
                    "SELECT to_regclass('jobs') IS NULL OR NOT EXISTS (SELECT 1 FROM jobs)"
                ).fetchone()
                return bool(row and row[0])
        except Exception:  # noqa: BLE001 - PostgreSQL down or absent: nothing to conclude
            return False

    def _not_recovered_reason(
        self, stack: Stack, shell: OperatorShell, observed: str, failed: list[StepRun], fault: Fault
    ) -> str:
        parts = [f"after the resolution steps the service did not recover: {observed}"]
        if not self.section.steps_with_role(Role.RESOLUTION):
            parts.append(f"'{self.section.title}' has no resolution step")
        still = fault.diagnose(stack)
        if still:
            parts.append(still)
        states = stack.containers()
        down = [f"{s.name} {status_text(s)}" for s in states.values() if s.status != Status.RUNNING]
        missing = [n for n in stack.compose.startup_order() if n not in states]
        if down:
            parts.append("containers: " + ", ".join(down))
        if missing:
            parts.append("services with no container: " + ", ".join(missing))
        for s in failed:
            first = (s.stderr or s.stdout).strip().splitlines()[:1]
            parts.append(
                f"step line {s.line} `{s.command}` exited {s.exit_code}"
                + (f": {first[0][:160]}" if first else "")
            )
        parts.extend(self._stale_config(stack, shell))
        return self.redact("; ".join(parts))

    def _stale_config(self, stack: Stack, shell: OperatorShell) -> list[str]:
        """Exports and `.env` edits the running containers never saw."""
        wanted = stack.resolve_config(shell.env)
        notes = []
        for service, state in stack.containers().items():
            if service not in wanted:
                continue
            have, want = state.config.env, wanted[service].env
            changed = sorted(k for k in want if have.get(k) != want[k])
            if changed:
                pairs = ", ".join(
                    f"{k}={have.get(k, '<unset>')!s} (the operator's shell now resolves "
                    f"{want[k]!s})"
                    for k in changed
                )
                notes.append(
                    f"{state.name} still runs with the configuration it was created with: "
                    f"{pairs}; no step recreated it (`export` reaches only the operator's "
                    "shell, `restart` keeps the old environment)"
                )
        return notes

    def _impact(self, result: GamedayResult, load: Load) -> None:
        reqs = list(load.requests)
        imp = Impact(requests=len(reqs), failed=sum(not r.ok for r in reqs))
        if result.t0 is not None:
            end = (result.t0 + result.ttr_s) if result.ttr_s is not None else float("inf")
            window = [r for r in reqs if result.t0 <= r.t <= end]
            imp.incident_requests = len(window)
            imp.incident_failed = sum(not r.ok for r in window)
            lat = sorted(r.latency_ms for r in window) or sorted(r.latency_ms for r in reqs)
            if lat:
                imp.p50_ms = round(statistics.median(lat), 2)
                imp.p99_ms = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2)
            ratio = imp.incident_failed / imp.incident_requests if imp.incident_requests else 0.0
            # DESIGN.md: all users failing SEV-1; over 50 % SEV-2; some SEV-3; none SEV-4.
            imp.severity = 1 if ratio >= 0.95 else 2 if ratio > 0.5 else 3 if ratio > 0 else 4
        buckets: dict[int, list[int]] = {}
        for r in reqs:
            b = buckets.setdefault(int(r.t), [0, 0])
            b[0 if r.ok else 1] += 1
        imp.buckets = [(float(k), v[0], v[1]) for k, v in sorted(buckets.items())]
        result.impact = imp
