"""The pytest plugin: `pytest -m gameday` runs the runbook's scenarios against a live stack.

Options: `--runbook PATH` (repeatable; default every `runbooks/*.md`), `--backend
auto|local|docker` (or GAMEDAY_BACKEND), `--compose PATH`, `--gameday-out DIR` (JSON
results). A scenario test passes when the verdict is the one expected for that runbook:
`recovered`, unless the runbook's baseline file (`<runbook>.baseline.json`) records a
known defect, in which case the defect must still be exactly what it was.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from harness.backends import make_stack, select_backend
from harness.compose import ComposeFile
from harness.errors import BadInput
from harness.gameday import Gameday
from harness.redact import Redactor
from harness.result import GamedayResult
from harness.runbook import parse_runbook
from harness.runbook_model import Runbook
from harness.scenario import Scenario

RESULTS_KEY = pytest.StashKey[list[GamedayResult]]()
SETTINGS_KEY = pytest.StashKey["Settings"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "gameday harness")
    group.addoption(
        "--runbook",
        action="append",
        default=[],
        metavar="PATH",
        help="runbook under test (repeatable; default: every runbooks/*.md)",
    )
    group.addoption("--backend", default=None, help="stack backend: auto, local (default), docker")
    group.addoption(
        "--compose",
        default=None,
        metavar="PATH",
        help="compose file (default: docker-compose.chaos.yml at the rootdir)",
    )
    group.addoption(
        "--scenario",
        action="append",
        default=[],
        metavar="ID",
        help="run only this scenario (exact id, repeatable; default: all; see scenarios/)",
    )
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
    from harness.reports import html_plugin

    html_plugin.register(config)  # step tables and timelines in pytest-html, when installed
    # SIGTERM (CI cancelling a job) unwinds like Ctrl-C, so every stack's teardown runs.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGHUP, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


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
        self.backend, self.backend_why = select_backend(config.getoption("--backend"), self.compose)
        out = config.getoption("--gameday-out")
        self.out = Path(out) if out else None

    def baseline(self, runbook: Runbook, scenario_id: str) -> dict[str, str] | None:
        path = Path(runbook.path).with_suffix(".baseline.json")
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        entry = data.get("scenarios", {}).get(scenario_id)
        return entry if isinstance(entry, dict) else None


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
        f"gameday: backend={s.backend} ({s.backend_why}), "
        f"runbooks={', '.join(r.path for r in s.runbooks)}"
    ]


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
        game = Gameday(
            rb,
            scenario,
            lambda env: make_stack(
                s.backend, s.compose, env, env_example=s.compose.path.parent / ".env.example"
            ),
        )
        result = game.run()
        self.request.config.stash[RESULTS_KEY].append(result)
        # Plain JSON types: pytest-xdist ships user_properties between processes (no enums).
        plain = json.loads(json.dumps(result.to_dict()))
        self.request.node.user_properties.append(("gameday", plain))
        if s.out:
            s.out.mkdir(parents=True, exist_ok=True)
            name = f"{scenario.id}--{Path(rb.path).stem}.json"
            text = Redactor.from_environment()(json.dumps(result.to_dict(), indent=2))
            (s.out / name).write_text(game.redact(text))
        return result

    def check(self, scenario: Scenario) -> GamedayResult:
        result = self.run(scenario)
        known = self.settings.baseline(self.runbook, scenario.id)
        expected = known["verdict"] if known else scenario.expected
        detail = f"{result.summary()}\n\n{result.step_table()}"
        if result.notes:
            detail += "\n\nnotes:\n" + "\n".join(f"- {n}" for n in result.notes)
        assert result.verdict.value == expected, (
            f"expected {expected}"
            + (f" (baseline: {known.get('why', '')})" if known else "")
            + f", got {result.verdict.value}\n{detail}"
        )
        return result


@pytest.fixture
def gameday(request: pytest.FixtureRequest, runbook: Runbook) -> GamedayFixture:
    return GamedayFixture(request, runbook)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS_KEY, [])
    if not results:
        return
    s = settings(config)
    if s.out:
        from harness.reports.json_results import RunInfo, write_run

        path = write_run(
            s.out,
            results,
            RunInfo.now(results, backend=s.backend, runbooks=[r.path for r in s.runbooks]),
        )
        terminalreporter.write_line(f"gameday results: {path}")
    tr = terminalreporter
    tr.section("gameday verdicts")
    for r in results:
        tr.write_line(f"{Path(r.runbook).stem:<28} {r.summary()}")
