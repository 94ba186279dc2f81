"""The pytest plugin: `pytest -m gameday` runs the runbook's scenarios against a live stack.

Options: `--runbook PATH` (repeatable; default every `runbooks/*.md`), `--backend
auto|local|docker` (or GAMEDAY_BACKEND), `--compose PATH`, `--gameday-out DIR` (JSON
results). A scenario test passes when the verdict is the one expected for that runbook:
`recovered`, unless the runbook's baseline file (`<runbook>.baseline.json`) records a
known defect, in which case the defect must still be exactly what it was.

    collection ─▶ gamedays longest first (the last results.json's durations, else windows)
        │          so `pytest -n N` (pytest-xdist) never ends on one long gameday alone
        ▼
    each test: Gameday(...).run() ─▶ ("gameday", record) in user_properties
        │          (plain JSON: it travels from xdist workers); phases go to
        │          GAMEDAY_PROGRESS_FILE when set (`gameday run` prints them)
        ▼
    controller: records gathered from the reports ─▶ sessionfinish: results.json first
               (atomic; "interrupted" on Ctrl-C/SIGTERM), then pytest-html's report
               (atomic too); a file the disk refuses is named in one line, never a traceback
    JUnit XML: verdict, ttd_s, ttr_s, budget_s, reason... as separate <property>s
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

from harness.backends import make_stack, select_backend
from harness.compose import ComposeFile
from harness.errors import BadInput, ComposeError, OutputError
from harness.options import add_shared
from harness.redact import Redactor
from harness.result import GamedayResult
from harness.run.gameday import Gameday
from harness.run.scenario import Scenario
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook
from harness.suite.baseline import Expectation, expectation

RESULTS_KEY = pytest.StashKey[list[GamedayResult]]()
SETTINGS_KEY = pytest.StashKey["Settings"]()
# Files the disk refused: (path, reason). `gameday run` and the summary name them in one line.
WRITE_FAILURES_KEY = pytest.StashKey[list[tuple[str, str]]]()
# Set by `gameday run`, which names the refused files itself (one line, with the reviews').
FAILURES_SHOWN_KEY = pytest.StashKey[bool]()
PROGRESS_ENV = "GAMEDAY_PROGRESS_FILE"  # phase lines go there (`gameday run` shows them)
# The services every gameday's stack needs, whatever the fault: the API and what it calls.
CORE_SERVICES = ("testgen", "postgres", "redis", "llm", "toxiproxy")
# The record's fields that JUnit XML carries as properties (CI systems show them per test).
JUNIT_FIELDS = (
    "verdict",
    "ttd_s",
    "ttr_s",
    "budget_s",
    "reason",
    "scenario",
    "runbook",
    "backend",
    "resolution_finding",
)
# The signal that stopped the run (None: not stopped by one). `gameday run` turns it into
# the exit status 128 + signal, so an interrupted run never reads as bad input (2).
interrupted_by: int | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "gameday harness")
    add_shared(group.addoption, "--runbook", "--backend", "--compose", "--scenario")
    group.addoption(
        "--gameday-out",
        default=None,
        metavar="DIR",
        help="write each GamedayResult as JSON into DIR",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gameday: a gameday scenario against a live TestGen stack")
    config.addinivalue_line("markers", "sev(level): the runbook severity a scenario is declared at")
    config.stash[RESULTS_KEY] = []
    config.stash[WRITE_FAILURES_KEY] = []
    if not config.pluginmanager.has_plugin(_RUN_PLUGIN):
        config.pluginmanager.register(_Run(config), _RUN_PLUGIN)
    from harness.reports import html_plugin

    html_plugin.register(config)  # step tables and timelines in pytest-html, when installed
    global _xdist_controller
    _xdist_controller = bool(getattr(config.option, "numprocesses", None)) and not hasattr(
        config, "workerinput"
    )
    # SIGTERM (CI cancelling a job) unwinds like Ctrl-C, so every stack's teardown runs.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGHUP, _interrupt)
        sys.unraisablehook = _redeliver_lost_interrupt


def _interrupt(signum: int, frame: object) -> None:
    global interrupted_by
    first = interrupted_by is None
    interrupted_by = signum
    if first and signum == signal.SIGTERM:
        _forward_to_xdist_workers(signum)
    raise KeyboardInterrupt(f"signal {signum}")


_default_unraisablehook = sys.unraisablehook


def _redeliver_lost_interrupt(unraisable: Any) -> None:
    """A signal that lands while a finalizer runs (a weakref callback, `__del__`) raises our
    KeyboardInterrupt there, where Python only prints it and drops it: the run would go on,
    with a traceback on stderr. Deliver the signal again instead, silently."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt) and str(exc).startswith("signal ") and interrupted_by:
        threading.Timer(0.01, os.kill, (os.getpid(), interrupted_by)).start()
        return
    _default_unraisablehook(unraisable)


EXECNET_MARKS = ("exec(eval(sys.stdin.readline()))", "execnet", "xdist")
_xdist_controller = False  # set at configure when this process hands tests to xdist workers


def _forward_to_xdist_workers(signum: int) -> None:
    """Under `pytest -n`, the workers (this controller's only children) are told too, so each
    unwinds its gameday (stack teardown) instead of being cut off when the controller exits."""
    if not _xdist_controller or os.environ.get("PYTEST_XDIST_WORKER"):
        return  # serial, or a worker: its children are its stacks' processes
    try:
        import psutil

        children = psutil.Process().children()
    except Exception:  # noqa: BLE001 - best effort inside a signal handler
        return
    for child in children:
        # execnet starts each worker as `python -c "import sys;exec(eval(sys.stdin.readline()))"`
        if any(mark in part for part in _cmdline(child) for mark in EXECNET_MARKS):
            try:
                child.send_signal(signum)
            except Exception:  # noqa: BLE001 - it may have exited meanwhile
                pass


def _cmdline(proc: Any) -> list[str]:
    try:
        return list(proc.cmdline())
    except Exception:  # noqa: BLE001
        return []


class Settings:
    """Everything the options resolve to, validated before any stack starts."""

    def __init__(self, config: pytest.Config) -> None:
        root = Path(str(config.rootpath))
        paths = [Path(p) for p in config.getoption("--runbook")] or sorted(
            p for p in (root / "runbooks").glob("*.md")
        )
        self.runbooks: list[Runbook] = [parse_runbook(p) for p in paths]
        compose_path = Path(config.getoption("--compose") or root / "docker-compose.chaos.yml")
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
    missing = [s for s in needed if s not in compose.service_names]
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
    return [
        f"gameday: backend={s.backend} ({_first_clause(s.backend_why)}), "
        f"runbooks={', '.join(r.path for r in s.runbooks)}"
    ]


def _first_clause(why: str) -> str:
    """`auto: no Docker engine answers (Error while fetching…)` -> `auto: no Docker engine
    answers`: the reason, without the exception text after it."""
    return why.split(" (", 1)[0].strip()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runbook" in metafunc.fixturenames:
        s = settings(metafunc.config)
        metafunc.parametrize("runbook", s.runbooks, ids=[Path(r.path).stem for r in s.runbooks])


class GamedayFixture:
    """`gameday.check(SCENARIO)` runs one gameday and asserts its expected verdict."""

    def __init__(self, request: pytest.FixtureRequest, runbook: Runbook) -> None:
        self.request, self.runbook = request, runbook
        self.settings = settings(request.config)

    def run(self, scenario: Scenario, runbook: Runbook | None = None) -> GamedayResult:
        s = self.settings
        rb = runbook or self.runbook
        game = _ReportingGameday(
            rb,
            scenario,
            lambda env: make_stack(
                s.backend, s.compose, env, env_example=s.compose.path.parent / ".env.example"
            ),
        )
        result = game.run()
        # Plain JSON types: pytest-xdist ships user_properties between processes (no enums).
        # The controller gathers the records from the reports (RESULTS_KEY), workers or not.
        plain = json.loads(json.dumps(result.to_dict()))
        self.request.node.user_properties.append(("gameday", plain))
        if s.out:
            from harness.reports.json_results import write_atomic

            name = f"{scenario.id}--{Path(rb.path).stem}.json"
            text = Redactor.from_environment()(json.dumps(result.to_dict(), indent=2))
            try:
                write_atomic(s.out / name, game.redact(text))
            except OutputError as exc:  # the verdict stands; the summary names the file
                self.request.node.user_properties.append(("gameday-write-failure", str(exc)))
        return result

    def check(self, scenario: Scenario) -> GamedayResult:
        result = self.run(scenario)
        expected = expectation(self.runbook.path, scenario.id, scenario.expected)
        detail = f"{result.summary()}\n\n{result.step_table()}"
        if result.notes:
            detail += "\n\nnotes:\n" + "\n".join(f"- {n}" for n in result.notes)
        mismatch = expected.mismatch(result)
        assert mismatch is None, f"{mismatch}\n{detail}"
        return result


class _ReportingGameday(Gameday):
    """A Gameday that also tells the progress file each phase it reaches (one short line,
    one write: appends of concurrent xdist workers never interleave)."""

    # The verdict is not among them: the line of the finished gameday says it.
    PHASES = frozenset(
        {"up", "steady-state", "baseline", "inject", "fault-confirmed", "detected", "lift",
         "recovered"}
    )  # fmt: skip

    def event(self, result: GamedayResult, kind: str, detail: str = "") -> None:
        super().event(result, kind, detail)
        path = os.environ.get(PROGRESS_ENV)
        if path and kind in self.PHASES:
            line = f"{Path(self.runbook.path).name}  {self.scenario.id}: {kind}\n"
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                pass  # progress is a courtesy; the gameday goes on


@pytest.fixture
def gameday(request: pytest.FixtureRequest, runbook: Runbook) -> GamedayFixture:
    return GamedayFixture(request, runbook)


# -- longest first -----------------------------------------------------------------------------


def _item_scenario(item: pytest.Item) -> tuple[str, str] | None:
    """(scenario id, runbook stem) of a gameday test, or None for any other test."""
    if item.get_closest_marker("gameday") is None:
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    runbook = params.get("runbook")
    stem = Path(runbook.path).stem if isinstance(runbook, Runbook) else ""
    scenario = params.get("scenario")
    if isinstance(scenario, Scenario):
        return scenario.id, stem
    for key in ("scenario_id", "scenario"):  # the suite generated from the catalog
        if isinstance(params.get(key), str):
            return params[key], stem
    name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    return name.removeprefix("test_").replace("_", "-"), stem


def _expected(item: pytest.Item, scenario_id: str) -> Expectation | None:
    """The verdict the item's runbook expects of the scenario (its baseline), if known."""
    from harness.suite import catalog

    runbook = getattr(getattr(item, "callspec", None), "params", {}).get("runbook")
    scenario = catalog.SCENARIOS.get(scenario_id)
    if not isinstance(runbook, Runbook) or scenario is None:
        return None
    return expectation(runbook.path, scenario_id, scenario.expected)


def _previous_durations(config: pytest.Config) -> dict[tuple[str, str], float]:
    """Each gameday's duration in the output directory's last results.json, if any."""
    out = config.getoption("--gameday-out")
    if not out:
        return {}
    path = Path(out) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            (str(r["scenario"]), Path(str(r["runbook"])).stem): float(r["duration_s"])
            for r in data.get("results", [])
            if r.get("duration_s")
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # no usable history: the windows are the estimate


# Without history, a gameday's length follows from its windows and the verdict the runbook's
# baseline expects (measured on 2 cores: up to injection ~5 s, a detected fault ~3 s, a
# recovery ~2 s plus its hold, a failing verify window that ends early ~8 s, two verify
# windows around a lift ~10 s).
SETUP_S, DETECTED_S, RECOVERY_S, FAILED_VERIFY_S, LIFTED_S = 5.0, 3.0, 2.0, 8.0, 10.0


def estimated_duration(
    scenario_id: str,
    runbook_stem: str,
    previous: dict[tuple[str, str], float],
    expected: Expectation | None = None,
) -> float:
    """The last run's duration, else an estimate from the windows and the expected verdict
    (an undetected incident waits its whole detection window, then runs its resolution)."""
    if (scenario_id, runbook_stem) in previous:
        return previous[(scenario_id, runbook_stem)]
    from harness.suite import catalog

    scenario = catalog.SCENARIOS.get(scenario_id)
    if scenario is None:
        return 0.0
    if expected is None:
        return scenario.detect_window_s + scenario.verify_window_s + scenario.hold_s
    undetected = expected.verdict == "undetected"
    verify_verdict = (expected.resolution or "recovered") if undetected else expected.verdict
    verify = {
        "recovered": RECOVERY_S + scenario.hold_s,
        "recovered-after-lift": LIFTED_S,
    }.get(verify_verdict, min(scenario.verify_window_s, FAILED_VERIFY_S))
    detect = scenario.detect_window_s if undetected else DETECTED_S
    return SETUP_S + detect + verify


@pytest.hookimpl(trylast=True)  # after any shuffling plugin: the order we hand xdist is final
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:  # fmt: skip
    """Gamedays longest first, in the slots gameday tests already hold (other tests keep their
    place): with `-n N` the long ones start at once and the short ones fill the gaps. The
    order is a pure function of files every xdist worker reads alike, as xdist requires."""
    slots = [(i, key) for i, item in enumerate(items) if (key := _item_scenario(item))]
    if len(slots) < 2:
        return
    previous = _previous_durations(config)
    estimates = {
        i: estimated_duration(key[0], key[1], previous, _expected(items[i], key[0]))
        for i, key in slots
    }
    ranked = sorted(slots, key=lambda slot: -estimates[slot[0]])
    # sorted() is stable: equal estimates keep collection order
    ranked = _paired_for_xdist(ranked, _xdist_workers(config))
    reordered = [items[i] for i, _ in ranked]
    for (i, _), item in zip(slots, reordered, strict=True):
        items[i] = item


def _xdist_workers(config: pytest.Config) -> int:
    """How many xdist workers share the run (collection happens in each of them)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput:
        return int(workerinput.get("workercount", 1))
    return 1


def _paired_for_xdist(ranked: list[Any], workers: int) -> list[Any]:
    """xdist's `load` scheduler hands each worker two consecutive tests to start with (then
    one at a time): sorted longest first, worker 0 would run the two longest back to back.
    Pair the k-th longest with the (2n-1-k)-th instead, so the first two rounds balance."""
    if workers < 2 or len(ranked) < 2 * workers:
        return ranked  # fewer than two per worker: xdist deals them out one at a time
    head = ranked[: 2 * workers]
    paired = [x for k in range(workers) for x in (head[k], head[2 * workers - 1 - k])]
    return paired + ranked[2 * workers :]


# -- results on the controller -----------------------------------------------------------------


class _Run:
    """Per pytest run (two `pytest.main` calls in one process never share it): gathers the
    records from the reports (under xdist, on the controller), writes results.json."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        from harness.reports.html_plugin import gameday_results

        self.config.stash[RESULTS_KEY].extend(gameday_results(list(report.user_properties)))
        for name, value in report.user_properties:
            if name == "gameday-write-failure":
                path, _, reason = str(value).partition(": ")
                self.config.stash[WRITE_FAILURES_KEY].append((path, reason))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        _make_html_report_atomic(self.config)

    @pytest.hookimpl(tryfirst=True)  # before pytest-html's (trylast): results.json goes first
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = self.config
        results = config.stash.get(RESULTS_KEY, [])
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or interrupted_by is not None
        out = config.getoption("--gameday-out")
        if not out or not (results or interrupted) or hasattr(config, "workerinput"):
            # Nothing ran (--collect-only, nothing selected): no results.json at all. An
            # xdist worker: the controller writes the one results.json.
            return
        from harness.reports.json_results import RunInfo, write_run

        # Under xdist the controller may never have resolved Settings (no test runs here, and
        # -q skips the header): the run's facts come from the options and the records.
        s = config.stash.get(SETTINGS_KEY, None)
        root = Path(str(config.rootpath))
        runbooks = (
            [r.path for r in s.runbooks]
            if s
            else config.getoption("--runbook") or sorted(str(p) for p in root.glob("runbooks/*.md"))
        )
        info = RunInfo.now(
            results, backend=s.backend if s else "", runbooks=runbooks, interrupted=interrupted
        )
        try:
            write_run(Path(out), results, info)
        except OutputError as exc:
            config.stash[WRITE_FAILURES_KEY].append((exc.path, exc.reason))


_RUN_PLUGIN = "gameday-run"


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
            for key in JUNIT_FIELDS:
                v = value.get(key)
                if key not in value or (v is None and key not in ("ttd_s", "ttr_s")):
                    continue
                text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                yield key, text
        else:
            yield name, value if isinstance(value, str) else json.dumps(value, default=str)


def _make_html_report_atomic(config: pytest.Config) -> None:
    """pytest-html writes report.html in place: on a full disk it is cut at the last block
    that fit, then its OSError ends the session in a traceback. Its writer, on this run's
    report object, becomes temp file + rename, and a refusal is recorded, not raised."""
    from harness.reports.json_results import write_atomic

    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "_report_path", None)
        if not isinstance(path, Path) or not callable(getattr(plugin, "_write_report", None)):
            continue

        def write(rendered: str, path: Path = path) -> None:
            if config.getoption("collectonly", False):
                return  # nothing ran: an empty report must not replace the last real one
            try:
                write_atomic(path, rendered)
            except OutputError as exc:
                failures = config.stash[WRITE_FAILURES_KEY]
                if (exc.path, exc.reason) not in failures:
                    failures.append((exc.path, exc.reason))

        plugin._write_report = write


def write_failures_line(failures: list[tuple[str, str]]) -> str:
    """One line for every file the disk refused: which, and why (the reasons are alike)."""
    names = ", ".join(dict.fromkeys(Path(p).name for p, _ in failures))
    reasons = "; ".join(dict.fromkeys(r for _, r in failures))
    where = Path(failures[0][0]).parent
    return f"could not write {names} in {where}: {reasons} (the verdicts above stand)"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS_KEY, [])
    failures = config.stash.get(WRITE_FAILURES_KEY, [])
    tr = terminalreporter
    if results:
        tr.section("gameday verdicts")
        for r in results:
            tr.write_line(f"{Path(r.runbook).name:<30} {r.summary()}")
        out = config.getoption("--gameday-out")
        written = Path(out) / "results.json" if out else None
        if written and not any(Path(p).name == "results.json" for p, _ in failures):
            tr.write_line(f"gameday results: {written}")
    if failures and not config.stash.get(FAILURES_SHOWN_KEY, False):
        tr.write_line(f"gameday: {write_failures_line(failures)}", red=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.pluginmanager.get_plugin(_RUN_PLUGIN)
    if run is not None:
        config.pluginmanager.unregister(run, _RUN_PLUGIN)
