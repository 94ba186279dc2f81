"""The gameday runner: one scenario, one stack, one `GamedayResult`.

    up ─▶ steady state ─▶ baseline (negative control) ─▶ load ─▶ inject (t0)
          (probes pass,     each detection step twice          │
           else ABORTED)    on the healthy stack               ▼
                                         detect (harness.run.detect): poll detection steps
                                         until one's exit status leaves its baseline (TTD);
                                         the whole window, whatever the budget
                                                           │ none: declared by impact
                                                           ▼
                                         resolve: every resolution step, in order, as written
                                                           ▼
                            verify (harness.run.verify): probes within the API's rate limit,
                            held for the hold window (TTR); lift where the world would; ledger
                                                           ▼
                          verdict = decide(observations)   (harness.run.verdict, pure)
                          margin = needs_confirmation(result)   (harness.run.margin, pure)

All times come from one monotonic clock, relative to the start of the gameday. The runner
only gathers records; what counts as recovered is decided by the pure functions.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from harness.backends.base import Stack
from harness.bridge.server import BridgeServer
from harness.bridge.shell import OperatorShell, Outcome, may_change_shell
from harness.errors import StackError
from harness.faults.base import Fault, FaultNotTaken
from harness.observe.load import LOAD_CLIENT, Load, measure_impact, unreadable_jobs
from harness.observe.machine import StackCpu
from harness.observe.probes import (
    PROBE_CLIENT,
    Prober,
    configured_rate_limit_of,
    data_destroyed,
)
from harness.observe.ratelimit import RateBudget
from harness.redact import Redactor
from harness.result import Event, FaultCheck, GamedayResult, StepRun, StepStatus, Verdict
from harness.run.detect import poll_detection
from harness.run.diagnosis import diagnose
from harness.run.margin import needs_confirmation
from harness.run.phases import EventListener
from harness.run.scenario import Scenario
from harness.run.verdict import Decision, Observations, Verification, decide, fails_at_baseline
from harness.run.verify import VerifyWindow
from harness.runbook.model import Role, Runbook, Section, Step
from harness.shell.commands import changes_state
from harness.standins import silent_no_ops, unchecked_lines

DETECTION_ROLES = (Role.DETECTION, Role.INVESTIGATION)
StackFactory = Callable[[dict[str, str]], Stack]
# Verdicts whose hold is the runbook's recovery (or the world's, said as such): only then is
# the hold's timeline line "recovered". Elsewhere it stays "held", never a recovery.
RECOVERY_VERDICTS = frozenset({Verdict.RECOVERED, Verdict.SLOW, Verdict.RECOVERED_AFTER_LIFT})


def credit_recovery(events: list[Event], verdict: Verdict) -> None:
    """The timeline says "recovered" only for a verdict that is a recovery: the last hold
    that passed becomes the `recovered` line; before any other verdict it stays `held`."""
    if verdict not in RECOVERY_VERDICTS:
        return
    for ev in reversed(events):
        if ev.kind == "held":
            ev.kind = "recovered"
            return


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
    """One gameday. `on_event` hears each timeline event as it is recorded (progress lines,
    a test that interrupts the run at a phase); `on_result` gets the finished result of a
    gameday that ran to its verdict before its stack is torn down (the executor's next
    gameday starts meanwhile); `run()` returns it after the teardown."""

    def __init__(
        self,
        runbook: Runbook,
        scenario: Scenario,
        stack_factory: StackFactory,
        poll_interval: float = 0.1,
        step_timeout: float = 20.0,
        on_event: EventListener | None = None,
        on_result: Callable[[GamedayResult], None] | None = None,
    ) -> None:
        self.runbook, self.scenario = runbook, scenario
        self.section: Section = runbook.section(scenario.section)
        self.stack_factory = stack_factory
        self.poll_interval = poll_interval
        self.step_timeout = step_timeout
        self.on_event = on_event
        self.on_result = on_result
        self._t_start = time.monotonic()
        level = scenario.severity or (self.section.severities[0] if self.section.severities else 1)
        self.severity = runbook.severities[level]
        self.redact = Redactor()
        self._load: Load | None = None
        self._probe_budget = RateBudget(PROBE_CLIENT["X-Api-Key"], gameday_clock=self.now)
        # "line N: cmd" -> how it failed on the healthy stack (for the reason)
        self._baseline_why: dict[str, str] = {}

    def now(self) -> float:
        return time.monotonic() - self._t_start

    def event(self, result: GamedayResult, kind: str, detail: str = "") -> None:
        ev = Event(round(self.now(), 4), kind, self.redact(detail))
        result.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    # -- the flow -------------------------------------------------------------------
    def run(self) -> GamedayResult:
        fault = self.scenario.fault()
        result = self._new_result(fault)
        self._t_start = time.monotonic()
        self._probe_budget = RateBudget(PROBE_CLIENT["X-Api-Key"], gameday_clock=self.now)
        env = operator_environment(dict(self.scenario.stack_env))
        self.redact.add_env(env)
        stack = self.stack_factory(env)
        result.backend = stack.backend_name
        if isinstance(getattr(fault, "service", None), str):  # a renamed deployment (x-roles)
            fault.service = stack.compose.role(fault.service)  # type: ignore[attr-defined]
            result.fault_description = fault.description
        bridge: BridgeServer | None = None
        cpu: StackCpu | None = None
        self._load = None
        judged = False
        try:
            try:
                stack.up()
            except StackError as exc:
                result.verdict, result.reason = Verdict.ABORTED, f"the stack did not come up: {exc}"
                self.event(result, "verdict", result.reason)
                return result
            cpu = StackCpu(stack).start()
            self.event(result, "up", f"{stack.backend_name} stack ready")
            result.notes.extend(stack.info.notes)
            bridge = BridgeServer(stack, stack.info.workdir.parent / "run" / "bridge")
            shell = OperatorShell(stack, bridge, self.redact, env, self.step_timeout)
            self._gameday(stack, shell, fault, result)
            judged = True
        finally:
            try:
                self._finish(result, cpu)
                # To the verdict and its records: the teardown below judges nothing.
                result.duration_s = round(self.now(), 3)
                if judged and self.on_result is not None:
                    self.on_result(result)  # final: the executor frees the gameday's slot
            finally:
                try:
                    fault.cleanup(stack)
                finally:
                    if bridge is not None:
                        bridge.close()
                    stack.close()
        return result

    def _new_result(self, fault: Fault) -> GamedayResult:
        return GamedayResult(
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

    def _finish(self, result: GamedayResult, cpu: StackCpu | None) -> None:
        """What the run cost and what its timings depended on, whatever the outcome."""
        load = self._load
        if load is not None:
            load.stop()
            result.impact = measure_impact(list(load.requests), result.t0, result.ttr_s)
            result.load_rate = load.budget.rate.as_record()
        result.probe_rate = self._probe_budget.rate.as_record()
        if cpu is not None:
            result.machine = cpu.stop().as_record()
        result.margin = needs_confirmation(result) or ""

    def _gameday(
        self, stack: Stack, shell: OperatorShell, fault: Fault, result: GamedayResult
    ) -> None:
        """Gather the phase records, then let the pure verdict function judge them."""
        obs = Observations(
            section=self.section.title,
            budget_s=result.budget_s,
            fault_is_incident=fault.is_incident,
            lift=self.scenario.lift,
            detect_window_s=self.scenario.detect_window_s,
        )
        result.hold_s = self.scenario.hold_s
        result.address_map = self._address_map(stack)
        if any("not enforced" in n for n in stack.info.notes):
            obs.unchecked.append("the memory limit (not enforced on this machine)")
        self._phases(stack, shell, fault, result, obs)
        decision = decide(obs)
        decision.unchecked += unchecked_lines(  # what the verdict learned only from a stand-in
            stack.stand_ins(),
            obs.detected_by.command if obs.detected_by else None,
            decision.verdict.value if obs.verify else None,
            [r.command for r in obs.resolution if r.status != StepStatus.MANUAL],
        )
        self._record(result, obs, decision)

    def _record(self, result: GamedayResult, obs: Observations, decision: Decision) -> None:
        result.verdict, result.reason = decision.verdict, decision.reason
        result.unchecked = decision.unchecked
        result.resolution_finding = decision.finding
        if decision.verdict != Verdict.UNDETECTED:
            result.ttr_s = None if decision.ttr_s is None else round(decision.ttr_s, 4)
            result.recovery_confirmed_s = (
                None if decision.confirmed_s is None else round(decision.confirmed_s, 4)
            )
        judged = obs.after_lift or obs.verify
        if judged is not None:
            result.fault_check = FaultCheck(
                judged.fault_checked, bool(judged.fault_present), judged.fault_present or ""
            )
        credit_recovery(result.events, decision.verdict)
        failed = [
            r for r in obs.resolution if r.status in (StepStatus.FAILED, StepStatus.TIMED_OUT)
        ]
        if failed and decision.verdict in (Verdict.RECOVERED, Verdict.SLOW):
            result.notes.append(
                "resolution steps that failed but did not prevent recovery: "
                + "; ".join(f"line {s.line} `{s.command}` exit {s.exit_code}" for s in failed)
            )
        self.event(
            result,
            "verdict",
            decision.verdict.value + (f": {decision.reason}" if decision.reason else ""),
        )

    def _phases(
        self,
        stack: Stack,
        shell: OperatorShell,
        fault: Fault,
        result: GamedayResult,
        obs: Observations,
    ) -> None:
        prober = Prober(stack, self._probe_budget)
        self._probe_budget.configure(configured_rate_limit_of(stack))
        baseline = self._steady_state_and_baseline(stack, shell, prober, result, obs)
        if baseline is None:
            return
        load_budget = RateBudget(LOAD_CLIENT["X-Api-Key"], configured_rate_limit_of(stack),
                                 gameday_clock=self.now)  # fmt: skip
        load = self._load = Load(stack, self.now, budget=load_budget).start()
        warm_deadline = time.monotonic() + 5
        while len(load.acknowledged) < 5 and time.monotonic() < warm_deadline:
            time.sleep(0.02)
        t0 = self._inject(stack, fault, result, obs)
        if t0 is None:
            return
        self._detect(shell, baseline, t0, result, obs)
        if obs.detected_by is None:
            obs.symptom_stopped = fault.symptom_stopped(stack) or ""
            if obs.symptom_stopped:
                self.event(result, "symptom-stopped", obs.symptom_stopped)
        self._resolve(stack, shell, result, obs)
        self._verify(stack, shell, fault, prober, t0, result, obs)

    def _steady_state_and_baseline(
        self,
        stack: Stack,
        shell: OperatorShell,
        prober: Prober,
        result: GamedayResult,
        obs: Observations,
    ) -> dict[int, int | None] | None:
        """The harness's probes, then each detection step twice as a negative control: the
        detection steps' healthy exit statuses (None: steady state never held)."""
        holds, observed = self._await_steady_state(prober)
        self.event(result, "steady-state", observed)
        obs.steady_state_held, obs.steady_state_observed = holds, observed
        if not holds:
            return None
        detection = self._detection_steps()
        baseline: dict[int, int | None] = {}
        for step, (first, second, start) in zip(
            detection, self._twice_each(shell, detection), strict=True
        ):
            baseline[step.line] = first.exit_code
            result.steps.append(self._step_run("steady-state", step, first, start=start))
            key = f"line {step.line}: {step.command}"
            if first.manual_reason is None and (
                first.exit_code != second.exit_code or first.timed_out
            ):
                result.noisy_steps.append(key)
            elif first.manual_reason is None and fails_at_baseline(
                step.command, [first.exit_code, second.exit_code]
            ):
                result.baseline_failing_steps.append(key)
                self._baseline_why[key] = _failure_line(first)
        self.event(result, "baseline", f"{len(detection)} detection steps ran on the healthy stack")
        return baseline

    def _twice_each(
        self, shell: OperatorShell, steps: list[Step]
    ) -> list[tuple[Outcome, Outcome, float]]:
        """Each step run twice on the healthy stack: (first, second, when it started). Steps
        that cannot change the operator's shell (no export, cd, source, assignment) run side
        by side, each in a terminal of its own, as the detection phase polls them (a
        `docker stats` waits a second or two for the engine's samples); any other set runs
        one step after another in the operator's shell, what each exports kept."""

        def twice(step: Step, isolated: bool) -> tuple[Outcome, Outcome, float]:
            start = self.now()
            first = shell.run(step, isolated=isolated)
            if first.manual_reason is not None:
                return first, first, start
            return first, shell.run(step, isolated=isolated), start

        if len(steps) < 2 or any(may_change_shell(s.command) for s in steps):
            return [twice(step, False) for step in steps]
        with ThreadPoolExecutor(max_workers=len(steps)) as pool:
            return list(pool.map(lambda step: twice(step, True), steps))

    def _inject(
        self, stack: Stack, fault: Fault, result: GamedayResult, obs: Observations
    ) -> float | None:
        """Inject at t0 and confirm the fault took, independently of the runbook."""
        t0 = self.now()
        result.t0 = round(t0, 4)
        fault.inject(stack)
        self.event(result, "inject", fault.description)
        try:
            evidence = fault.wait_confirmed(stack)
        except FaultNotTaken as exc:
            obs.fault_error = str(exc)
            return None
        obs.fault_confirmed = evidence
        self.event(result, "fault-confirmed", evidence)
        return t0

    def _detect(
        self,
        shell: OperatorShell,
        baseline: dict[int, int | None],
        t0: float,
        result: GamedayResult,
        obs: Observations,
    ) -> None:
        """Every eligible step polled on its own clock until one leaves its baseline. The
        window opens when the fault is confirmed (a fault slow to take effect must not eat
        it) and is the scenario's, whole: the SEV budget counts from t0 and never cuts it."""
        opened = self.now()
        window = self.scenario.detect_window_s
        result.detect_window_s, result.detect_opened_s = window, round(opened - t0, 4)
        detection = self._detection_steps()
        skipped = set(result.noisy_steps) | set(result.baseline_failing_steps)
        eligible = [
            s
            for s in detection
            if baseline.get(s.line) is not None and f"line {s.line}: {s.command}" not in skipped
        ]
        found = poll_detection(
            shell, eligible, baseline, now=self.now, record=self._step_run, opened=opened,
            window_s=window, poll_interval=self.poll_interval,
        )  # fmt: skip
        result.ttd_resolution_s = found.resolution_s
        result.steps.extend(found.runs)
        obs.detected_by, obs.detect_window_s = found.detected_by, window
        obs.detect_note = (
            f"{found.polls} step runs; {len(eligible)} runnable steps polled concurrently, "
            f"{len(detection) - len(eligible)} manual, noisy or failing at baseline"
        )
        failing = [f"{k} ({self._baseline_why[k]})" for k in result.baseline_failing_steps
                   if k in self._baseline_why]
        if failing:  # they fail on the healthy stack too, so they can never detect the fault
            obs.detect_note += "; failing at baseline: " + "; ".join(failing)
        by = found.detected_by
        if by is not None:
            result.ttd_s = obs.ttd_s = round(by.started + by.duration - t0, 4)
            self.event(
                result,
                "detected",
                f"line {by.line}: {by.command} (exit {by.exit_code}, was {by.baseline_exit})",
            )
        else:
            # Users notice what the runbook's checks missed: the incident is declared by its
            # impact, and the resolution still runs so that one gameday shows every defect.
            self.event(
                result, "declared", f"undetected after {window:g}s; {self._impact_so_far(t0)}"
            )

    def _resolve(
        self, stack: Stack, shell: OperatorShell, result: GamedayResult, obs: Observations
    ) -> None:
        """Every resolution step, in runbook order, exactly as written."""
        removals = len(stack.volume_removals)
        for step in self.section.steps_with_role(Role.RESOLUTION):
            start = self.now()
            outcome = shell.run(step)
            run = self._step_run("resolve", step, outcome, start)
            result.steps.append(run)
            obs.resolution.append(run)
            if run.status != StepStatus.MANUAL and changes_state(step.command):
                obs.remediations.append(f"line {step.line}")
            self.event(
                result,
                "step",
                f"line {step.line}: {run.status.value}"
                + (f" (exit {run.exit_code})" if run.exit_code is not None else ""),
            )
            if obs.destroyed_after is None and (
                len(stack.volume_removals) > removals or data_destroyed(stack)
            ):
                obs.destroyed_after = f"line {step.line} `{step.command}`"
                self.event(
                    result, "data-destroyed", f"{obs.destroyed_after} destroyed the database's data"
                )

    def _verify(
        self,
        stack: Stack,
        shell: OperatorShell,
        fault: Fault,
        prober: Prober,
        t0: float,
        result: GamedayResult,
        obs: Observations,
    ) -> None:
        """Verify with the fault as the world left it; only then may the world lift it, so a
        recovery the runbook did not make is never credited to the runbook. Then the ledger."""
        # A step may have recreated the API with another limit: the probe and load follow it.
        limit = configured_rate_limit_of(stack)
        self._probe_budget.configure(limit)
        if self._load is not None:
            self._load.budget.configure(limit)
        result.verify_window_s = self.scenario.verify_window_s
        obs.verify = self._verify_window(stack, fault, prober, t0, result, "verify")
        if not (obs.verify.held and not (fault.is_incident and obs.verify.fault_present)):
            obs.diagnosis = diagnose(stack, shell.env, fault, self.redact)
            obs.diagnosis += silent_no_ops(
                obs.resolution, stack.compose.deployment_line("--requirepass")
            )
            if self.scenario.lift != "never":
                fault.lift(stack)
                self.event(result, "lift", "the world lifted the fault's external cause")
                obs.after_lift = self._verify_window(
                    stack, fault, prober, t0, result, "verify-after-lift"
                )
        judged = obs.after_lift if obs.after_lift is not None else obs.verify
        load = self._load
        if judged.held and load is not None:
            load.stop()
            acked = list(load.acknowledged)
            lost = unreadable_jobs(stack, acked)
            obs.acknowledged, obs.lost, obs.ledger_checked = len(acked), len(lost), True
            result.ledger.acknowledged, result.ledger.verified, result.ledger.lost = (
                len(acked),
                len(acked) - len(lost),
                lost[:50],
            )

    def _verify_window(
        self,
        stack: Stack,
        fault: Fault,
        prober: Prober,
        t0: float,
        result: GamedayResult,
        phase: str,
    ) -> Verification:
        window = VerifyWindow(
            stack, fault, prober, self.now, lambda kind, detail: self.event(result, kind, detail),
            hold_s=self.scenario.hold_s, window_s=self.scenario.verify_window_s,
            poll_interval=self.poll_interval,
        )  # fmt: skip
        v = window.run(t0, phase)
        if window.resolution_s is not None:
            result.ttr_resolution_s = window.resolution_s
        if v.ended_early:
            result.notes.append(f"{phase} window ended early: {v.ended_early}")
        return v

    # -- helpers ----------------------------------------------------------------------
    def _impact_so_far(self, t0: float) -> str:
        load = self._load
        reqs = list(load.requests) if load is not None else []
        window = [r for r in reqs if r.t >= t0 and not r.throttled]
        failed = sum(not r.ok for r in window)
        if not window:
            return "no requests sent since the fault"
        return f"{failed} of {len(window)} requests failed since the fault"

    def _address_map(self, stack: Stack) -> dict[str, str]:
        """The stack's real addresses, by the production names the runbook uses."""
        out: dict[str, str] = {}
        pairs = [("testgen", 8000), ("redis", 6379), ("postgres", 5432)]
        for role in stack.compose.roles:  # a renamed service: the ports it publishes
            spec = stack.compose.spec(stack.compose.role(role))
            pairs += [(role, int(str(p).split(":")[-2])) for p in spec.get("ports") or []
                      if str(p).count(":") >= 1]
        for role, port in pairs:
            try:
                service = stack.compose.role(role)
                host, real = stack.published(port) or stack.endpoint(service, port)
            except (LookupError, KeyError, ValueError, StackError):
                continue
            out[f"{host}:{real}"] = f"localhost:{port}"
        return out

    def _detection_steps(self) -> list[Step]:
        steps = self.section.steps_with_role(*DETECTION_ROLES)
        for title in self.scenario.steps_from:
            steps += self.runbook.section(title).steps_with_role(*DETECTION_ROLES)
        return steps

    def _await_steady_state(self, prober: Prober, timeout: float = 30.0) -> tuple[bool, str]:
        """A full probe passing, generate round trip included (waiting for the rate limit's
        budget if it must: the probe never spends more than the API allows it)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = prober()
            if (seen.holds and seen.generate_checked) or time.monotonic() >= deadline:
                return seen.holds and seen.generate_checked, seen.observed
            time.sleep(0.05)

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


def _failure_line(outcome: Outcome) -> str:
    """`exit N: <the tool's last message>`, for a reason that says why a step fails. The
    bridge routes an address nothing publishes to a closed port (127.0.0.1 port 9); the
    message says so in the runbook's terms."""
    lines = [ln.strip() for ln in (outcome.stderr or outcome.stdout or "").splitlines()]
    last = next((ln for ln in reversed(lines) if ln), "")[:160]
    last = last.replace("127.0.0.1 port 9 ", "localhost, port not published, ")
    return f"exit {outcome.exit_code}" + (f": {last}" if last else "")
