"""Where an addition goes (docs/architecture.md): each of the four kinds of addition is one
module (plus its test), shown here by making one of each inside this test module only."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import REGISTRY, make_stack, register_backend, select_backend
from harness.backends.base import Stack, Status
from harness.backends.fake import FakeStack
from harness.compose import ComposeFile
from harness.faults.base import Fault
from harness.reports.json_results import read_run, write_run
from harness.result import GamedayResult, Verdict
from harness.run.gameday import Gameday
from harness.runbook.parse import parse_runbook
from harness.suite import catalog

ROOT = Path(__file__).resolve().parents[1]
# The example fault below registers itself when this module is imported; keep it out of the
# registry outside this module's tests.
FIXED = ROOT / "runbooks" / "incident-response.fixed.md"


class ApiFrozen(Fault):  # registered under its kind while this module's tests run
    """A new fault, all in one class: the service stopped through the engine, confirmed and
    checked like any other."""

    kind = "api-frozen-example"

    def __init__(self, service: str = "testgen") -> None:
        self.service = service

    def inject(self, stack: Stack) -> None:
        stack.kill(self.service, signal.SIGKILL)

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers()[self.service]
        return None if state.status == Status.RUNNING else f"{state.name} is down"

    def still_in_effect(self, stack: Stack) -> str | None:
        return self.confirm(stack)

    @property
    def description(self) -> str:
        return "The API was stopped by the example fault."


Fault.registry.pop(ApiFrozen.kind)


@pytest.fixture(autouse=True)
def _only_here() -> Iterator[None]:
    """The example fault exists for these tests only (other tests list the known kinds)."""
    Fault.registry[ApiFrozen.kind] = ApiFrozen
    yield
    Fault.registry.pop(ApiFrozen.kind, None)


def test_a_new_fault_is_one_module_and_a_toml_entry(tmp_path: Path) -> None:
    runbook = tmp_path / "team.md"
    runbook.write_text(FIXED.read_text())
    (tmp_path / "team.scenarios.toml").write_text(
        '[[scenario]]\nid = "api-frozen"\ntitle = "the example fault"\n'
        'section = "Service Down (SEV-1)"\n'
        'fault = { kind = "api-frozen-example", service = "testgen" }\n'
        "detect_window_s = 3\nverify_window_s = 5\nhold_s = 0.5\n"
    )
    scenario = catalog.for_runbook(runbook)["api-frozen"]
    assert isinstance(scenario.fault(), ApiFrozen)
    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")

    def fake(env: dict[str, str]) -> Stack:
        return make_stack("fake", compose, env, ROOT / ".env.example")

    result = Gameday(parse_runbook(runbook), scenario, fake, step_timeout=10).run()
    assert result.fault == "api-frozen-example"
    assert result.verdict == Verdict.RECOVERED, result.reason  # `docker-compose up -d` heals it


def test_a_new_backend_is_one_registration() -> None:
    class ToyStack(FakeStack):
        """A new backend: a `Stack` implementation, registered by name."""

    register_backend("toy", ToyStack)
    try:
        assert select_backend("toy") == ("toy", "chosen")
        stack = make_stack("toy", ComposeFile(ROOT / "docker-compose.chaos.yml"), {})
        assert isinstance(stack, ToyStack)
        stack.close()
    finally:
        REGISTRY.pop("toy")


def test_a_new_report_reads_the_record_only(tmp_path: Path) -> None:
    """A new report is a function of `results.json` (the record), nothing else."""

    def verdict_counts(results_json: Path) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in read_run(results_json).results:
            counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
        return counts

    records = []
    for verdict in (Verdict.RECOVERED, Verdict.RECOVERED, Verdict.UNDETECTED):
        r = GamedayResult("s", "t", "sec", "rb.md", "local", 1, 300.0, "f", "d")
        r.verdict = verdict
        records.append(r)
    path = write_run(tmp_path, records)
    assert verdict_counts(path) == {"recovered": 2, "undetected": 1}
    assert json.loads(path.read_text())["results"][2]["verdict"] == "undetected"


def test_a_new_runbook_command_is_one_module(tmp_path: Path) -> None:
    """`kubectl` is manual today (no cluster); one registered handler makes the bridge run it."""
    from harness.bridge.protocol import Answer, Completed, Invocation
    from harness.bridge.registry import TOOLS, bridged
    from harness.bridge.server import BridgeServer
    from harness.bridge.shell import OperatorShell
    from harness.redact import Redactor
    from harness.runbook.model import Role, Step

    @bridged("kubectl")
    def kubectl(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
        running = [n for n, s in stack.containers().items() if s.status == Status.RUNNING]
        return Completed(0, "".join(f"{n} Running\n" for n in sorted(running)))

    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")
    stack = make_stack("fake", compose, {}, ROOT / ".env.example")
    bridge = None
    try:
        stack.up()
        bridge = BridgeServer(stack, tmp_path / "bridge")
        shell = OperatorShell(stack, bridge, Redactor(), {})
        step = Step("kubectl get pods -n testgen | grep -q testgen", "", 1, Role.DETECTION, "s")
        outcome = shell.run(step)
        assert outcome.manual_reason is None
        assert outcome.exit_code == 0, outcome.stderr
    finally:
        TOOLS.pop("kubectl", None)
        if bridge is not None:
            bridge.close()
        stack.close()
