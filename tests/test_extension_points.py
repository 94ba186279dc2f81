"""Where an addition goes (docs/architecture.md): each of the four kinds of addition is one
module (plus its test), shown here by making one of each inside this test module only."""

from __future__ import annotations

import json
import sys
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
from harness.run.scenario import ScenarioError
from harness.runbook.parse import parse_runbook
from harness.suite import catalog

ROOT = Path(__file__).resolve().parents[1]
FIXED = ROOT / "runbooks" / "incident-response.fixed.md"

# A new fault, all in one module of harness/faults: the service stopped through the engine,
# confirmed and checked like any other. Nothing else names it (no import line, no list).
API_FROZEN_MODULE = """
import signal

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.faults.params import SERVICE_NAME, Param


class ApiFrozen(Fault):
    kind = "api-frozen-example"
    params = (Param("service", str, "the service stopped", pattern=SERVICE_NAME),)

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
"""


@pytest.fixture
def fault_module(tmp_path: Path) -> Iterator[Path]:
    """The new module dropped into the faults package (its search path, so the checkout stays
    untouched); gone again afterwards, for the tests that list the known kinds."""
    import harness.faults

    folder = tmp_path / "faults"
    folder.mkdir()
    (folder / "api_frozen_example.py").write_text(API_FROZEN_MODULE)
    harness.faults.__path__.append(str(folder))
    try:
        yield folder
    finally:
        harness.faults.__path__.remove(str(folder))
        Fault.registry.pop("api-frozen-example", None)
        sys.modules.pop("harness.faults.api_frozen_example", None)


def test_a_new_fault_is_one_module_and_a_toml_entry(tmp_path: Path, fault_module: Path) -> None:
    runbook = tmp_path / "team.md"
    runbook.write_text(FIXED.read_text())
    (tmp_path / "team.scenarios.toml").write_text(
        '[[scenario]]\nid = "api-frozen"\ntitle = "the example fault"\n'
        'section = "Service Down (SEV-1)"\n'
        'fault = { kind = "api-frozen-example", service = "testgen" }\n'
        "detect_window_s = 3\nverify_window_s = 5\nhold_s = 0.5\n"
    )
    scenario = catalog.for_runbook(runbook)["api-frozen"]  # discovered, checked, built
    assert type(scenario.fault()).__module__ == "harness.faults.api_frozen_example"
    (tmp_path / "team.scenarios.toml").write_text(
        (tmp_path / "team.scenarios.toml").read_text().replace('"testgen"', '"test gen"')
    )
    with pytest.raises(ScenarioError, match=r"scenarios.toml:5: .*service must be a name matching"):
        catalog.for_runbook(runbook)  # its declared parameters are checked like any other's
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
