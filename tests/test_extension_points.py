"""Where an addition goes (docs/architecture.md): each kind of addition is one file. The
tool, backend and report below are each written as one new file in a plugin directory
(`tmp_path`, appended to the package's search path as a plugin would be) and found by the
registry's own discovery: no other file is edited, no list extended."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.backends.base import Stack
from harness.compose import ComposeFile
from harness.faults.base import Fault
from harness.result import Verdict
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


def _plugin_dir(
    monkeypatch: pytest.MonkeyPatch, package: str, directory: Path, files: dict[str, str]
) -> None:
    """Write each file into `directory` and add it to `package`'s search path, as a plugin
    directory would be; the modules are forgotten again after the test."""
    pkg = importlib.import_module(package)
    for name, source in files.items():
        (directory / name).write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, f"{package}.{Path(name).stem}", raising=False)
    monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(directory)])


KUBECTL_TOOL = """
    from harness.backends.base import Stack, Status
    from harness.bridge.protocol import Answer, Completed, Invocation
    from harness.bridge.registry import bridged


    @bridged("kubectl")
    def kubectl(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
        running = [n for n, s in stack.containers().items() if s.status == Status.RUNNING]
        return Completed(0, "".join(f"{n} Running\\n" for n in sorted(running)))
"""


def test_a_new_runbook_command_is_one_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kubectl` is manual today (no cluster). One module in the tools package registers it,
    and then the bridge runs it, the linter stops calling it manual, and mutation derives
    mutants for the step instead of skipping it as manual."""
    from harness.bridge import registry
    from harness.bridge.server import BridgeServer
    from harness.bridge.shell import OperatorShell
    from harness.redact import Redactor
    from harness.runbook.lint import lint_runbook
    from harness.runbook.model import Role, Step
    from harness.trust.mutate.derive import derive_mutants

    line = next(
        n
        for n, text in enumerate(FIXED.read_text().splitlines(), 1)
        if text.startswith("kubectl get pods")
    )
    compose_path = ROOT / "docker-compose.chaos.yml"
    scenarios = [catalog.for_runbook(FIXED)["database-down"]]  # polls "Detection and Alert"

    def kubectl_is_manual() -> tuple[bool, bool]:
        linted = any(line in f.lines for f in lint_runbook(FIXED, compose_path).manual)
        _, untouched = derive_mutants(FIXED.read_text(), str(FIXED), scenarios)
        return linted, any(u.line == line and "manual" in u.reason for u in untouched)

    assert kubectl_is_manual() == (True, True)  # before: no module answers kubectl
    monkeypatch.setattr(registry, "TOOLS", dict(registry.bridged_tools()))
    monkeypatch.setattr(registry, "_imported", set(registry._imported))
    _plugin_dir(monkeypatch, registry.TOOLS_PACKAGE, tmp_path, {"kubectl_tool.py": KUBECTL_TOOL})
    assert "kubectl" in registry.bridged_tools()
    assert kubectl_is_manual() == (False, False)

    stack = make_stack("fake", ComposeFile(compose_path), {}, ROOT / ".env.example")
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
        if bridge is not None:
            bridge.close()
        stack.close()


TOY_BACKEND = """
    from harness.backends import register_backend
    from harness.backends.fake.stack import FakeStack


    class ToyStack(FakeStack):
        \"\"\"A new backend: a `Stack` implementation that registers itself by name.\"\"\"


    register_backend("toy", ToyStack)
"""


def test_a_new_backend_is_one_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.backends as backends
    from harness.backends import backend_names, select_backend

    assert "toy" not in backend_names()
    monkeypatch.setattr(backends, "_BACKENDS", dict(backends.backends()))
    monkeypatch.setattr(backends, "_discovered", False)
    _plugin_dir(monkeypatch, "harness.backends", tmp_path, {"toy.py": TOY_BACKEND})
    assert "toy" in backend_names()
    assert "toy" in backends.BACKENDS  # the `--backend` choices
    assert select_backend("toy") == ("toy", "chosen")
    assert select_backend("auto")[0] != "toy"  # no auto rank: only when named
    stack = make_stack("toy", ComposeFile(ROOT / "docker-compose.chaos.yml"), {})
    assert type(stack).__name__ == "ToyStack"
    stack.close()


VERDICT_COUNTS_REPORT = """
    from pathlib import Path

    from harness.reports.json_results import Run
    from harness.reports.registry import register_report


    @register_report("counts", option="--counts", default="counts.txt", help="verdict counts")
    def render_counts(run: Run, target: Path) -> list[Path]:
        counts: dict[str, int] = {}
        for r in run.results:
            counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
        target.write_text("".join(f"{k} {v}\\n" for k, v in sorted(counts.items())))
        return [target]
"""


def test_a_new_report_is_one_module_reading_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new report is a function of `results.json` (the record), nothing else."""
    from harness.reports import registry
    from harness.reports.json_results import read_run, write_run
    from harness.result import GamedayResult

    monkeypatch.setattr(registry, "_KINDS", dict(registry.report_kinds()))
    monkeypatch.setattr(registry, "_discovered", False)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    files = {"verdict_counts.py": VERDICT_COUNTS_REPORT}
    _plugin_dir(monkeypatch, "harness.reports", plugins, files)
    assert registry.report_kinds()["counts"].option == "--counts"

    records = []
    for verdict in (Verdict.RECOVERED, Verdict.RECOVERED, Verdict.UNDETECTED):
        r = GamedayResult("s", "t", "sec", "rb.md", "local", 1, 300.0, "f", "d")
        r.verdict = verdict
        records.append(r)
    run = read_run(write_run(tmp_path, records))
    [outcome] = registry.render_reports(run, {"counts": tmp_path / "counts.txt"})
    assert outcome.error is None
    assert (tmp_path / "counts.txt").read_text() == "recovered 2\nundetected 1\n"
