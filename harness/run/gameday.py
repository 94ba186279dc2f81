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
import re
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from harness.backends.base import Stack, Status
from harness.bridge.humanize import status_text
from harness.bridge.server import BridgeServer
from harness.bridge.shell import OperatorShell, Outcome
from harness.errors import StackError
from harness.faults.base import Fault, FaultNotTaken
from harness.observe.load import Load, unreadable_jobs
from harness.observe.probes import postgres_login, steady_state
from harness.redact import Redactor
from harness.result import (
    Event,
    FaultCheck,
    GamedayResult,
    Impact,
    StepRun,
    StepStatus,
    Verdict,
)
from harness.run.scenario import Scenario
from harness.run.verdict import Observations, Verification, decide, fails_at_baseline
from harness.runbook.model import Role, Runbook, Section, Step
from harness.shell.commands import changes_state
from harness.standins import silent_no_ops, unchecked_lines

DETECTION_ROLES = (Role.DETECTION, Role.INVESTIGATION)
# A failing verify window ends early once the failure has been stable this long and cannot
# change (see Gameday._settled); a hold or a verdict that could still change never does.
QUIESCENT_S = 3.0
SETTLED_STATUSES = frozenset({Status.RUNNING, Status.EXITED})
MIN_GAP_S = 0.02  # between two runs of a poller, so a slow step never spins on the CPU
# Once recovery is seen (TTR is known to the poll interval), the hold is confirmed by a full
# probe (health, ready, a generate round trip) this often: a restart or OOM kill in between
# is still caught by the engine's counters, and the probes cost the stack a third as much.
HOLD_PROBE_S = 0.3
StackFactory = Callable[[dict[str, str]], Stack]


def failure_signature(observed: str) -> str:
    """What failed, without the wording of the error: a dependency's client words the same
    outage differently from one attempt to the next ("Connection closed by server.", "Error
    111 connecting ..."), which is not a change of the failure."""
    text = re.sub(r'error: [^"]*', "error", observed)
    return re.sub(r"^(\w+Error): .*", r"\1", text)


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
        """Gather the phase records, then let the pure verdict function judge them."""
        obs = Observations(
            section=self.section.title,
            budget_s=result.budget_s,
            fault_is_incident=fault.is_incident,
            lift=self.scenario.lift,
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
        # Steady state: the harness's probes, then each detection step as a negative control.
        holds, observed = self._await_steady_state(stack)
        self.event(result, "steady-state", observed)
        obs.steady_state_held, obs.steady_state_observed = holds, observed
        if not holds:
            return
        detection = self._detection_steps()
        baseline: dict[int, int | None] = {}
        for step in detection:
            first = shell.run(step)
            second = shell.run(step) if first.manual_reason is None else first
            baseline[step.line] = first.exit_code
            run = self._step_run("steady-state", step, first, start=self.now() - first.duration)
            result.steps.append(run)
            key = f"line {step.line}: {step.command}"
            if first.manual_reason is None and (
                first.exit_code != second.exit_code or first.timed_out
            ):
                result.noisy_steps.append(key)
            elif first.manual_reason is None and fails_at_baseline(
                step.command, [first.exit_code, second.exit_code]
            ):
                result.baseline_failing_steps.append(key)
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
            obs.fault_error = str(exc)
            return
        obs.fault_confirmed = evidence
        self.event(result, "fault-confirmed", evidence)

        # Detect: every step polled on its own clock until one leaves its baseline.
        # The window opens when the fault is confirmed (a fault that takes long to take
        # effect, e.g. the first OOM kill under CPU load, must not eat the runbook's window);
        # the SEV budget still counts from t0.
        confirmed = self.now()
        window = min(self.scenario.detect_window_s, result.budget_s - (confirmed - t0))
        skipped = set(result.noisy_steps) | set(result.baseline_failing_steps)
        eligible = [
            s
            for s in detection
            if baseline.get(s.line) is not None and f"line {s.line}: {s.command}" not in skipped
        ]
        detected_by, runs, polls, gap = self._detect(shell, eligible, baseline, confirmed, window)
        result.ttd_resolution_s = gap
        result.steps.extend(runs)
        obs.detected_by, obs.detect_window_s = detected_by, window
        obs.detect_note = (
            f"{polls} step runs; {len(eligible)} runnable steps polled concurrently, "
            f"{len(detection) - len(eligible)} manual, noisy or failing at baseline"
        )
        if detected_by is not None:
            result.ttd_s = round(detected_by.started + detected_by.duration - t0, 4)
            self.event(
                result,
                "detected",
                f"line {detected_by.line}: {detected_by.command} "
                f"(exit {detected_by.exit_code}, was {detected_by.baseline_exit})",
            )
        else:
            # Users notice what the runbook's checks missed: the incident is declared by its
            # impact, and the resolution still runs so that one gameday shows every defect.
            self.event(
                result,
                "declared",
                f"undetected after {window:.0f}s; {self._impact_so_far(load, t0)}",
            )

        # Resolve: every resolution step, in runbook order, exactly as written.
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
                len(stack.volume_removals) > removals or self._jobs_table_emptied(stack)
            ):
                obs.destroyed_after = f"line {step.line} `{step.command}`"
                self.event(
                    result, "data-destroyed", f"{obs.destroyed_after} destroyed the database's data"
                )

        # Verify with the fault as the world left it; only then may the world lift it, so a
        # recovery the runbook did not make is never credited to the runbook.
        obs.verify = self._verify(stack, fault, t0, result, "verify")
        if not (obs.verify.held and not (fault.is_incident and obs.verify.fault_present)):
            obs.diagnosis = self._diagnosis(stack, shell, fault)
            obs.diagnosis += silent_no_ops(
                obs.resolution, stack.compose.deployment_line("--requirepass")
            )
            if self.scenario.lift != "never":
                fault.lift(stack)
                self.event(result, "lift", "the world lifted the fault's external cause")
                obs.after_lift = self._verify(stack, fault, t0, result, "verify-after-lift")
        judged = obs.after_lift if obs.after_lift is not None else obs.verify
        if judged.held:
            load.stop()
            acked = list(load.acknowledged)
            lost = unreadable_jobs(stack, acked)
            obs.acknowledged, obs.lost, obs.ledger_checked = len(acked), len(lost), True
            result.ledger.acknowledged, result.ledger.verified, result.ledger.lost = (
                len(acked),
                len(acked) - len(lost),
                lost[:50],
            )

    def _detect(
        self,
        shell: OperatorShell,
        steps: list[Step],
        baseline: dict[int, int | None],
        opened: float,
        window: float,
    ) -> tuple[StepRun | None, list[StepRun], int, float | None]:
        """Poll each step on its own clock (one thread a step), so a short-lived symptom (an
        API down between two OOM kills) is seen whichever step would see it: a slow step
        (`docker stats`) never delays a fast one (`curl -f`)."""
        found = threading.Event()
        lock = threading.Lock()
        last: dict[int, StepRun] = {}
        firsts: list[StepRun] = []
        gaps: list[float] = []  # between two starts of the same step: TTD's resolution
        polls = 0

        def poll(step: Step) -> None:
            nonlocal polls
            while not found.is_set() and self.now() - opened < window:
                start = self.now()
                outcome = shell.run(step, isolated=True)
                run = self._step_run("detect", step, outcome, start, baseline[step.line])
                with lock:
                    polls += 1
                    if found.is_set():  # another step already detected: not a finding
                        return
                    if step.line in last:
                        gaps.append(run.started - last[step.line].started)
                    last[step.line] = run
                    if outcome.exit_code != baseline[step.line]:
                        run.detected = True
                        firsts.append(run)
                        found.set()
                        return
                # The step's own run counts toward the interval: re-run within poll_interval
                # of the last start whenever the step itself is faster than that.
                found.wait(max(MIN_GAP_S, self.poll_interval - (self.now() - start)))

        if steps:
            with ThreadPoolExecutor(max_workers=min(len(steps), 8)) as pool:
                list(pool.map(poll, steps))
        order = {s.line: i for i, s in enumerate(steps)}
        runs = sorted(last.values(), key=lambda r: order[r.line])
        gap = round(statistics.median(gaps), 4) if gaps else None
        return (firsts[0] if firsts else None), runs, polls, gap

    def _verify(
        self, stack: Stack, fault: Fault, t0: float, result: GamedayResult, phase: str
    ) -> Verification:
        """Steady state must be seen, then hold for the hold window under the background
        load with no container restarting or OOM-killed; then the fault is checked."""
        hold = self.scenario.hold_s
        deadline = time.monotonic() + self.scenario.verify_window_s
        since: float | None = None
        restarts: dict[str, list[float]] = {}  # service -> when (from t0) it restarted
        signature = self._restart_signature(stack)
        observed = ""
        quiet: tuple[float, str] | None = None  # (since, observation) of a stable failure
        ended_early = ""
        probes: list[float] = []  # probe start times: TTR's resolution
        first_seen_at = 0
        while True:
            probes.append(self.now())
            holds, observed = steady_state(stack)
            now_sig = self._restart_signature(stack)
            if now_sig != signature:
                for name in now_sig:
                    if now_sig[name] != signature.get(name):
                        restarts.setdefault(name, []).append(self.now() - t0)
                signature, since, quiet = now_sig, None, None
            elif holds:
                quiet = None
                if since is None:
                    since = self.now()
                    self.event(result, "recovery-seen", f"{phase}: {observed}")
                elif self.now() - since >= hold:
                    break
            else:
                since = None
                if quiet is None or quiet[1] != failure_signature(observed):
                    quiet = (self.now(), failure_signature(observed))
                elif self.now() - quiet[0] >= QUIESCENT_S:
                    ended_early = self._settled(stack, fault)
                    if ended_early:
                        self.event(result, "verify-ended", f"{phase}: {ended_early}")
                        break
                    quiet = (self.now(), observed)
            # A stretch that started inside the window may finish its hold after it.
            if since is None and time.monotonic() >= deadline:
                break
            interval = self.poll_interval
            if since is None:
                first_seen_at = len(probes)  # probes up to here measure TTR's resolution
            else:
                interval = max(self.poll_interval, HOLD_PROBE_S)
            time.sleep(max(MIN_GAP_S, interval - (self.now() - probes[-1])))
        disturbances = [
            f"{name} restarted or was killed {len(ts)}× (first at t0+{ts[0]:.1f}s)"
            for name, ts in restarts.items()
        ]
        seeking = probes[: first_seen_at + 1]  # the probes before recovery was first seen
        if len(seeking) > 1:
            result.ttr_resolution_s = round(
                statistics.median(b - a for a, b in zip(seeking, seeking[1:], strict=False)), 4
            )
        v = Verification(held=since is not None, observed=observed, disturbances=disturbances)
        if ended_early:
            result.notes.append(f"{phase} window ended early: {ended_early}")
        if since is not None:
            v.first_seen_s, v.confirmed_s = since - t0, self.now() - t0
            self.event(result, "recovered", f"{phase}: held {hold:.0f}s: {observed}")
        try:
            v.fault_present = fault.still_in_effect(stack)
            v.fault_checked = True
        except NotImplementedError:
            pass
        except Exception as exc:  # noqa: BLE001 - a check that cannot answer proves nothing
            v.fault_present = f"the fault check could not answer: {type(exc).__name__}: {exc}"
            v.fault_checked = True
        self.event(result, "fault-check", v.fault_present or "the fault is gone")
        return v

    @staticmethod
    def _settled(stack: Stack, fault: Fault) -> str:
        """Why the verify window cannot end otherwise, or "" if it still could.

        Ended early only when the failure is provably stable: the same observation for
        QUIESCENT_S, no container restarting or starting, and the fault still in effect (it
        is not lifted while this window runs, and nothing else removes it). A window whose
        verdict could still change always runs to its end."""
        pending = [
            s.name for s in stack.containers().values() if s.status not in SETTLED_STATUSES
        ]
        if pending:
            return ""
        try:
            present = fault.still_in_effect(stack)
        except NotImplementedError:
            return ""
        except Exception:  # noqa: BLE001 - an unanswered check proves nothing: keep waiting
            return ""
        if not present:
            return ""
        return (
            f"the failure was unchanged for {QUIESCENT_S:.0f}s with nothing restarting and "
            f"the fault still in effect ({present}): the verdict cannot change in this window"
        )

    @staticmethod
    def _restart_signature(stack: Stack) -> dict[str, tuple[int, bool]]:
        return {
            name: (state.restart_count, state.status == Status.RUNNING)
            for name, state in stack.containers().items()
        }

    @staticmethod
    def _impact_so_far(load: Load, t0: float) -> str:
        window = [r for r in list(load.requests) if r.t >= t0]
        failed = sum(not r.ok for r in window)
        if not window:
            return "no requests sent since the fault"
        return f"{failed} of {len(window)} requests failed since the fault"

    def _address_map(self, stack: Stack) -> dict[str, str]:
        """The stack's real addresses, by the production names the runbook uses."""
        out: dict[str, str] = {}
        for service, port in (("testgen", 8000), ("redis", 6379), ("postgres", 5432)):
            try:
                host, real = stack.published(port) or stack.endpoint(service, port)
            except (LookupError, KeyError, ValueError):
                continue
            out[f"{host}:{real}"] = f"localhost:{port}"
        return out

    # -- helpers ----------------------------------------------------------------------
    def _detection_steps(self) -> list[Step]:
        steps = self.section.steps_with_role(*DETECTION_ROLES)
        for title in self.scenario.steps_from:
            steps += self.runbook.section(title).steps_with_role(*DETECTION_ROLES)
        return steps

    def _await_steady_state(self, stack: Stack, timeout: float = 30.0) -> tuple[bool, str]:
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

    def _diagnosis(self, stack: Stack, shell: OperatorShell, fault: Fault) -> list[str]:
        """The stack's state in the runbook's terms, for a not-recovered reason."""
        parts = []
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
        parts.extend(self._stale_config(stack, shell))
        return [self.redact(p) for p in parts]

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
            # docs/design.md: all users failing SEV-1; over 50 % SEV-2; some SEV-3; none SEV-4.
            imp.severity = 1 if ratio >= 0.95 else 2 if ratio > 0.5 else 3 if ratio > 0 else 4
        buckets: dict[int, list[int]] = {}
        for r in reqs:
            b = buckets.setdefault(int(r.t), [0, 0])
            b[0 if r.ok else 1] += 1
        imp.buckets = [(float(k), v[0], v[1]) for k, v in sorted(buckets.items())]
        result.impact = imp
