"""The pytest adapter: `pytest -m gameday` runs the same gamedays as `gameday run`.

Options: `--runbook PATH` (repeatable; default every `runbooks/*.md`), `--backend
auto|local|docker|fake` (or GAMEDAY_BACKEND), `--compose PATH`, `--deployment DIR` (or
GAMEDAY_DEPLOYMENT), `--scenario ID`,
`--gameday-out DIR` (each result as JSON, and results.json). One test item per gameday of the
executor's plan (`harness/suite/execute.py`), longest first; the item runs its gameday in this
process (`worker.run_job`) and asserts the verdict the runbook's baseline expects. JUnit XML
gets the record's fields as separate properties. `gameday run` does not go through pytest.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from harness.backends import select_backend
from harness.compose import DEPLOYMENT_ENV, ComposeFile
from harness.errors import BadInput, ComposeError, OutputError
from harness.options import add_shared, check_deployment
from harness.redact import Redactor
from harness.reports.junit import JUNIT_FIELDS
from harness.reports.junit import junit_properties as _record_properties
from harness.result import GamedayResult
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook
from harness.suite.baseline import expectation
from harness.suite.execute import Job, estimated_duration, longest_first

__all__ = ["JUNIT_FIELDS", "GamedayFixture", "require_services", "settings"]
RESULTS_KEY = pytest.StashKey[list[GamedayResult]]()
SETTINGS_KEY = pytest.StashKey["Settings"]()
# The services every gameday's stack needs, whatever the fault: the API and what it calls.
CORE_SERVICES = ("testgen", "postgres", "redis", "llm", "toxiproxy")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "gameday harness")
    add_shared(group.addoption, "--runbook", "--backend", "--compose", "--deployment", "--scenario")
    group.addoption("--gameday-out", default=None, metavar="DIR",
                    help="write each GamedayResult as JSON, and results.json, into DIR")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gameday: a gameday scenario against a live TestGen stack")
    config.stash[RESULTS_KEY] = []
    from harness.reports import html_plugin

    html_plugin.register(config)  # step tables and timelines in pytest-html, when installed
    # SIGTERM (CI cancelling a job) unwinds like Ctrl-C, so every stack's teardown runs.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGHUP, _interrupt)
        sys.unraisablehook = _redeliver_lost_interrupt


_interrupted_by: list[int] = []


def _interrupt(signum: int, frame: object) -> None:
    _interrupted_by.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


_default_unraisablehook = sys.unraisablehook


def _redeliver_lost_interrupt(unraisable: Any) -> None:
    """A signal that lands while a finalizer runs is only printed there by Python, and the
    run would go on: deliver it again instead, silently."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt) and str(exc).startswith("signal ") and _interrupted_by:
        threading.Timer(0.01, os.kill, (os.getpid(), _interrupted_by[-1])).start()
        return
    _default_unraisablehook(unraisable)


class Settings:
    """Everything the options resolve to, read once and validated before any stack starts."""

    def __init__(self, config: pytest.Config) -> None:
        root = Path(str(config.rootpath))
        paths = [Path(p) for p in config.getoption("--runbook")] or sorted(
            (root / "runbooks").glob("*.md")
        )
        self.runbooks: list[Runbook] = [parse_runbook(p) for p in paths]
        compose_path = Path(config.getoption("--compose") or root / "docker-compose.chaos.yml")
        deployment = check_deployment(config.getoption("--deployment"))
        if deployment is not None:  # as `gameday run`: inherited by every stack's processes
            os.environ[DEPLOYMENT_ENV] = str(deployment.resolve())
        self.compose = ComposeFile(compose_path)
        require_services(self.compose, ())
        self.backend, self.backend_why = select_backend(config.getoption("--backend"), self.compose)
        out = config.getoption("--gameday-out")
        self.out = Path(out) if out else None


def require_services(compose: ComposeFile, scenarios: Iterable[Scenario]) -> None:
    """The compose file has the services every stack needs and those the scenarios' faults act
    on: ComposeError (one line, exit 2) before anything starts, not 22 aborted gamedays."""
    from harness.suite.catalog import target_services

    needed = list(CORE_SERVICES)
    for scenario in scenarios:
        for spec in scenario.faults:
            needed += [s for s in target_services(spec) if s not in needed]
    missing = [s for s in needed if compose.role(s) not in compose.service_names]
    if missing:
        raise ComposeError(
            str(compose.path),
            f"no service {', '.join(repr(s) for s in missing)}: a gameday stack needs "
            f"{', '.join(needed)} (has {', '.join(compose.service_names)})",
        )


def settings(config: pytest.Config) -> Settings:
    if SETTINGS_KEY not in config.stash:
        try:
            config.stash[SETTINGS_KEY] = Settings(config)
        except BadInput as exc:
            pytest.exit(f"gameday: {exc}", returncode=2)
    return config.stash[SETTINGS_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not any(
        "gameday" in str(a) or "scenarios" in str(a) for a in config.args
    ) and "gameday" not in (config.getoption("-m") or ""):
        return []
    s = settings(config)
    why = s.backend_why.split(" (", 1)[0].strip()  # the reason, not the exception text
    names = ", ".join(r.path for r in s.runbooks)
    return [f"gameday: backend={s.backend} ({why}), runbooks={names}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runbook" in metafunc.fixturenames:
        s = settings(metafunc.config)
        metafunc.parametrize("runbook", s.runbooks, ids=[Path(r.path).stem for r in s.runbooks])


class GamedayFixture:
    """`gameday.check(SCENARIO)` runs one gameday and asserts its expected verdict."""

    def __init__(self, request: pytest.FixtureRequest, runbook: Runbook) -> None:
        self.request, self.runbook = request, runbook
        self.settings = settings(request.config)

    def check(self, scenario: Scenario) -> GamedayResult:
        from harness.run.margin import merge_confirmation, needs_confirmation, untested
        from harness.suite.worker import run_job

        s = self.settings
        exp = expectation(self.runbook.path, scenario.id, scenario.expected)
        job = Job(self.runbook, scenario, exp, estimated_duration(scenario, exp))
        result = run_job(job, s.backend, s.compose)
        if untested(result):  # its fault stopped by itself: one more attempt, as the executor's
            why = needs_confirmation(result) or ""
            result = merge_confirmation(result, run_job(job, s.backend, s.compose), why, "again")
        # Plain JSON: pytest-xdist ships user_properties between processes (no enums).
        self.request.node.user_properties.append(("gameday", json.loads(
            json.dumps(result.to_dict()))))  # fmt: skip
        self.request.config.stash[RESULTS_KEY].append(result)
        if s.out:
            _write_one(s.out / f"{job.key}.json", result)
        detail = f"{result.summary()}\n\n{result.step_table()}"
        mismatch = exp.mismatch(result)
        assert mismatch is None, f"{mismatch}\n{detail}"
        return result


def _write_one(path: Path, result: GamedayResult) -> None:
    from harness.reports.json_results import write_atomic

    text = Redactor.from_environment()(json.dumps(result.to_dict(), indent=2))
    try:
        write_atomic(path, text)
    except OutputError as exc:  # the verdict stands
        print(f"gameday: {exc}", file=sys.stderr)


@pytest.fixture
def gameday(request: pytest.FixtureRequest, runbook: Runbook) -> GamedayFixture:
    return GamedayFixture(request, runbook)


@pytest.hookimpl(trylast=True)  # after any shuffling plugin: the order we hand xdist is final
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:  # fmt: skip
    """Gamedays longest first (the executor's order), in the slots gameday tests already
    hold: under `pytest -n N` the long ones start at once and the short ones fill the gaps.
    A pure function of the checkout, as xdist requires of every worker's collection."""
    from harness.suite import catalog

    slots: list[tuple[int, Job]] = []
    for i, item in enumerate(items):
        params = getattr(getattr(item, "callspec", None), "params", {})
        runbook, sid = params.get("runbook"), params.get("scenario_id")
        if item.get_closest_marker("gameday") is None or not isinstance(runbook, Runbook):
            continue
        scenario = catalog.for_runbook(runbook.path).get(str(sid))
        if scenario is not None:
            exp = expectation(runbook.path, scenario.id, scenario.expected)
            slots.append((i, Job(runbook, scenario, exp, estimated_duration(scenario, exp))))
    ranked = longest_first(job for _, job in slots)
    by_key = {job.key: items[i] for i, job in slots}
    for (i, _), job in zip(slots, ranked, strict=True):
        items[i] = by_key[job.key]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """JUnit XML writes each user property as str(value): at teardown (the report junitxml
    reads them from), the record becomes separate properties, structured ones as JSON."""
    report = yield
    if report.when == "teardown":
        report.user_properties = list(junit_properties(report.user_properties))
    return report


def junit_properties(props: Iterable[tuple[str, object]]) -> Iterable[tuple[str, str]]:
    for name, value in props:
        if name == "gameday" and isinstance(value, dict):
            yield from _record_properties(value)
        else:
            yield name, value if isinstance(value, str) else json.dumps(value, default=str)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """results.json in --gameday-out, for the results this process ran (each xdist worker
    writes its gamedays' own JSON files; the parity check reads those)."""
    config = session.config
    results = config.stash.get(RESULTS_KEY, [])
    s = config.stash.get(SETTINGS_KEY, None)
    if not results or s is None or s.out is None or hasattr(config, "workerinput"):
        return
    from harness.reports.json_results import RunInfo, write_run

    info = RunInfo.now(results, [r.path for r in s.runbooks], s.backend,
                       interrupted=bool(_interrupted_by) or exitstatus == 2)  # fmt: skip
    try:
        write_run(s.out, results, info)
    except OutputError as exc:
        print(f"gameday: {exc}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS_KEY, [])
    if results:
        terminalreporter.section("gameday verdicts")
        for r in results:
            terminalreporter.write_line(f"{Path(r.runbook).name:<30} {r.summary()}")
