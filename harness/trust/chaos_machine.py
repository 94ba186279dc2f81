"""Random overlapping faults on one live stack, and the promise that survives them.

A Hypothesis `RuleBasedStateMachine` over ONE live local stack (shared by every example):

    rules (any order, any overlap)                       background
      kill postgres|redis|llm|testgen (engine: stays down) Load: POST /v1/generate at 10/s,
      crash testgen (restart policy brings it back)       every 200's job id in the ledger
      link toxic: latency | cut on postgres|redis|llm     │
      LLM provider mode: quota | 429 | 500 | slow | bad   │
        (faults with a duration lift at the next `wait`)  │
      a resolution step of the fixed runbook, as written  │
      wait: time passes, expired faults lift              │
      heal ─▶ lift every fault, `docker-compose up -d`,  ◀┘
              wait for steady state (bounded)
              INVARIANTS: steady_state(stack) holds; every acknowledged job reads back

Each example starts from steady state (a stack that cannot get there is replaced), with a
fresh operator shell, so one example's leftovers never decide the next one's outcome.
Hypothesis prints the failing rule sequence, shrunk.

    live = LiveStack(); live.start()
    run_state_machine_as_test(lambda: ChaosMachine(live), settings=chaos_settings())
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from harness.backends import make_stack
from harness.backends.base import Stack, Status
from harness.bridge.registry import bridged_tools
from harness.bridge.server import BridgeServer
from harness.bridge.shell import OperatorShell
from harness.compose import ComposeFile
from harness.errors import BlastRadiusError, StackError
from harness.faults.base import Fault
from harness.faults.llm_provider import LlmProviderFault
from harness.faults.network import LinkToxic
from harness.observe.load import Load, unreadable_jobs
from harness.observe.probes import steady_state
from harness.redact import Redactor
from harness.run.gameday import operator_environment
from harness.runbook.model import Role
from harness.runbook.parse import parse_runbook
from harness.shell.commands import changes_state
from harness.shell.manual import manual_reason
from harness.toxiproxy import ToxiproxyError

ROOT = Path(__file__).resolve().parents[2]
FIXED_RUNBOOK = ROOT / "runbooks" / "incident-response.fixed.md"
HEAL_TIMEOUT_S = 45.0
STEP_TIMEOUT_S = 30.0
KILLABLE = ("testgen", "postgres", "redis", "llm")
LINKS = ("postgres", "redis", "llm")
LLM_MODES = ("quota_exceeded", "rate_limited", "server_error", "slow", "malformed")
DURATIONS_S = (0.5, 1.0, 2.0, 4.0)


def runbook_actions(path: Path = FIXED_RUNBOOK) -> list[str]:
    """Every runnable resolution command of the (fixed) runbook, once each, in order."""
    runbook = parse_runbook(path)
    commands: list[str] = []
    bridged = bridged_tools()
    for section in runbook.sections:
        for step in section.steps_with_role(Role.RESOLUTION):
            cmd = step.command
            if (
                not cmd
                or manual_reason(cmd, step.comment, bridged)
                or not changes_state(cmd)  # reading adds time, not chaos: only what acts
            ):
                continue
            if cmd not in commands:
                commands.append(cmd)
    return commands


def chaos_settings() -> settings:
    """Small and deterministic in CI. Scheduled runs set `GAMEDAY_CHAOS_EXAMPLES=N`: N
    examples of up to 25 steps from a fresh random seed each night (a failure prints the
    blob that reproduces it); `GAMEDAY_CHAOS_DERANDOMIZE=1` keeps them deterministic."""
    scheduled = os.environ.get("GAMEDAY_CHAOS_EXAMPLES")
    examples = int(scheduled) if scheduled else 10
    return settings(
        derandomize=not scheduled or os.environ.get("GAMEDAY_CHAOS_DERANDOMIZE") == "1",
        print_blob=True,
        database=None,
        max_examples=examples,
        stateful_step_count=25 if scheduled else 10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


class LiveStack:
    """The one stack every example runs on (as tests/conftest.py's `operator`), on any
    backend (`GAMEDAY_CHAOS_BACKEND`, default local: the machine's rules apply to every
    backend alike)."""

    def __init__(
        self, compose: Path = ROOT / "docker-compose.chaos.yml", backend: str | None = None
    ) -> None:
        self.compose = ComposeFile(compose)
        self.env = operator_environment()
        self.backend = backend or os.environ.get("GAMEDAY_CHAOS_BACKEND", "local")
        self.stack: Stack | None = None
        self.bridge: BridgeServer | None = None
        self.replaced = 0

    def start(self) -> None:
        stack = make_stack(
            self.backend, self.compose, self.env, self.compose.path.parent / ".env.example"
        )
        self.stack = stack
        try:
            stack.up()
            self.bridge = BridgeServer(stack, stack.info.workdir.parent / "run" / "bridge")
        except BaseException:
            self.close()  # nothing of a stack that never came up may outlive it
            raise

    def shell(self) -> OperatorShell:
        """A fresh on-call shell (no exports left over from an earlier example)."""
        assert self.stack is not None and self.bridge is not None, "LiveStack.start() first"
        redactor = Redactor()
        redactor.add_env(self.env)
        return OperatorShell(self.stack, self.bridge, redactor, dict(self.env), STEP_TIMEOUT_S)

    def replace(self) -> None:
        """A stack that cannot reach steady state is not a fair start for the next example."""
        self.close()
        self.replaced += 1
        self.start()

    def close(self) -> None:
        try:
            if self.bridge is not None:
                self.bridge.close()
        finally:
            self.bridge = None
            if self.stack is not None:
                self.stack.close()
            self.stack = None

    def __enter__(self) -> LiveStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ActiveFault:
    label: str
    fault: Fault
    expires_at: float | None  # monotonic; None: stays until heal


def await_steady_state(live: LiveStack, timeout: float) -> tuple[bool, str]:
    assert live.stack is not None
    deadline = time.monotonic() + timeout
    holds, observed = steady_state(live.stack)
    while not holds and time.monotonic() < deadline:
        time.sleep(0.2)
        holds, observed = steady_state(live.stack)
    return holds, observed


class ChaosMachine(RuleBasedStateMachine):
    """Faults, runbook steps and time, in any order; heal restores the service, losing
    nothing acknowledged."""

    def __init__(self, live: LiveStack) -> None:
        super().__init__()
        self.live = live
        holds, observed = await_steady_state(live, HEAL_TIMEOUT_S)
        if not holds:
            note(f"the shared stack was not in steady state ({observed}): replaced")
            live.replace()
            holds, observed = await_steady_state(live, HEAL_TIMEOUT_S)
            assert holds, f"a fresh stack never reached steady state: {observed}"
        assert live.stack is not None
        self.stack = live.stack
        self.shell = live.shell()
        self.active: dict[str, ActiveFault] = {}
        self._t0 = time.monotonic()
        self.load = Load(self.stack, lambda: time.monotonic() - self._t0).start()
        self.heals = 0

    # -- faults -------------------------------------------------------------------------
    @rule(service=st.sampled_from(KILLABLE))
    def kill_through_engine(self, service: str) -> None:
        state = self.stack.containers().get(service)
        if state is None or state.status != Status.RUNNING:
            note(f"{service} is not running: nothing to kill")
            return
        self.stack.kill(service, signal.SIGKILL)
        note(f"killed {service} through the engine")

    @rule()
    def crash_testgen(self) -> None:
        state = self.stack.containers().get("testgen")
        if state is None or state.status != Status.RUNNING:
            note("testgen is not running: nothing to crash")
            return
        # A process restarted a moment ago may not have exec'd yet: its environment (the
        # stack's ownership marker) is not visible, and the backend refuses to signal it.
        deadline = time.monotonic() + 3.0
        while True:
            try:
                pid = self.stack.crash("testgen", signal.SIGKILL)
            except StackError as exc:  # it died between the status read and the signal
                note(f"crash testgen: {exc}")
                return
            except BlastRadiusError as exc:
                if time.monotonic() >= deadline:
                    raise
                note(f"crash testgen refused, retrying: {exc}")
                time.sleep(0.05)
                continue
            break
        # Wait until the engine saw it die, so the next rule meets the restart policy's
        # doing, not a process that is still exiting.
        died = time.monotonic() + 3.0
        while time.monotonic() < died:
            now = self.stack.containers()["testgen"]
            if now.pid != pid or now.status != Status.RUNNING:
                break
            time.sleep(0.02)
        note(f"crashed testgen pid {pid}")

    @rule(
        link=st.sampled_from(LINKS),
        toxic=st.sampled_from(("latency", "cut")),
        latency_ms=st.sampled_from((200, 1000, 3000)),
        seconds=st.sampled_from(DURATIONS_S),
    )
    def link_toxic(self, link: str, toxic: str, latency_ms: int, seconds: float) -> None:
        label = f"{toxic} on link {link}"
        expires = time.monotonic() + seconds
        if label in self.active:  # overlapping the same fault: it simply lasts longer
            current = self.active[label]
            current.expires_at = max(current.expires_at or 0.0, expires)
            note(f"{label}: extended to {seconds}s from now")
            return
        fault = (
            LinkToxic(link, "cut") if toxic == "cut" else LinkToxic(link, toxic, latency=latency_ms)
        )
        fault.inject(self.stack)
        self.active[label] = ActiveFault(label, fault, expires)
        note(f"{label} for {seconds}s")

    @rule(
        provider=st.sampled_from(("openai", "anthropic")),
        mode=st.sampled_from(LLM_MODES),
        seconds=st.sampled_from(DURATIONS_S),
    )
    def llm_provider_mode(self, provider: str, mode: str, seconds: float) -> None:
        label = f"llm provider {provider}"
        state = self.stack.containers().get("llm")
        if state is None or state.status != Status.RUNNING:
            note(f"{label}: the mock provider is down, no mode to set")
            return
        fault = LlmProviderFault(provider, mode, delay_ms=1500 if mode == "slow" else None)
        fault.inject(self.stack)  # replaces whatever mode the provider had
        self.active[label] = ActiveFault(label, fault, time.monotonic() + seconds)
        note(f"{label} in mode {mode} for {seconds}s")

    # -- the operator -------------------------------------------------------------------
    @rule(command=st.deferred(lambda: st.sampled_from(runbook_actions())))
    def runbook_step(self, command: str) -> None:
        outcome = self.shell.run_command(command)
        first = (outcome.stderr or outcome.stdout).strip().splitlines()[:1]
        note(f"  `{command}` exit {outcome.exit_code}" + (f": {first[0][:160]}" if first else ""))

    @rule(seconds=st.sampled_from((0.2, 0.5, 1.0, 2.0)))
    def wait(self, seconds: float) -> None:
        time.sleep(seconds)
        now = time.monotonic()
        for label, active in list(self.active.items()):
            if active.expires_at is not None and active.expires_at <= now:
                self._lift(active)
                del self.active[label]
                note(f"{label}: lifted after its duration")

    @rule()
    def heal(self) -> None:
        self._heal_and_check()

    def _lift(self, active: ActiveFault) -> None:
        try:
            active.fault.lift(self.stack)
        except (httpx.HTTPError, ToxiproxyError) as exc:
            # The fault lives in a service that is down now (e.g. the mock provider was
            # killed): its restart starts it without the fault.
            note(f"{active.label}: cannot lift ({type(exc).__name__}); it goes with its service")

    def _heal_and_check(self) -> None:
        for active in list(self.active.values()):
            self._lift(active)
        self.active.clear()
        outcome = self.shell.run_command("docker-compose up -d")
        assert outcome.exit_code == 0, (
            f"`docker-compose up -d` exited {outcome.exit_code}: "
            f"{(outcome.stderr or outcome.stdout).strip()[:400]}"
        )
        holds, observed = await_steady_state(self.live, HEAL_TIMEOUT_S)
        self.heals += 1
        assert holds, (
            f"no steady state {HEAL_TIMEOUT_S:.0f}s after lifting every fault and "
            f"`docker-compose up -d`: {observed}\n{self._diagnosis()}"
        )
        acknowledged = list(self.load.acknowledged)
        lost = unreadable_jobs(self.stack, acknowledged)
        assert not lost, (
            f"{len(lost)} of {len(acknowledged)} acknowledged jobs are not readable after the "
            f"heal: {lost[:5]}"
        )
        note(f"heal {self.heals}: steady state, {len(acknowledged)} acknowledged jobs readable")

    def _diagnosis(self) -> str:
        """What the engine shows, for a heal that did not heal."""
        lines = []
        for service, state in sorted(self.stack.containers().items()):
            lines.append(
                f"  {service}: {state.status.value} exit {state.exit_code} "
                f"restarts {state.restart_count} pid {state.pid}"
            )
        tail = [text for _, text in self.stack.logs("testgen")[-8:]]
        return "containers:\n" + "\n".join(lines) + "\ntestgen log tail:\n  " + "\n  ".join(tail)

    def teardown(self) -> None:
        try:
            self._heal_and_check()
        finally:
            self.load.stop()
