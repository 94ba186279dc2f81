"""The CLI's small promises: pytest's -k, -x, -v and -q work on `gameday run` without `--`
(and after it, as before); any other pytest option is one line naming how to pass it; a
docker backend with no engine is one line and exit 2; the help's defaults are the code's."""

from __future__ import annotations

import argparse
import re
import subprocess

import pytest
from trust.support import checkout_env

from harness.cli import build_parser

FIXED_ONLY = "scenarios/test_gamedays.py::test_gameday[service-down-incident-response.fixed]"


def gameday(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gameday", *argv], capture_output=True, text=True,
                          env=checkout_env(**env), timeout=120)  # fmt: skip


@pytest.mark.parametrize("before_dashes", [True, False], ids=["direct", "after-dashes"])
def test_k_selects_gamedays_by_pytest_names_with_or_without_dashes(before_dashes):
    k = ["-k", "service_down and fixed"]
    argv = ["run", "--backend", "fake", "--collect-only", *(k if before_dashes else ["--", *k])]
    proc = gameday(*argv)
    assert proc.returncode == 0, proc.stderr
    assert [ln for ln in proc.stdout.splitlines() if "::" in ln] == [FIXED_ONLY]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["-k", "service_down and"], "-k"),  # a malformed expression
        (["--", "--lf"], "pytest -m gameday"),  # an option the executor has no use for
        (["stray"], "pytest -m gameday"),  # a positional argument
    ],
    ids=["bad-k", "unknown-pytest-option", "positional"],
)
def test_a_pytest_option_run_cannot_take_is_one_line_saying_how_to_pass_it(argv, needle):
    proc = gameday("run", "--backend", "fake", *argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert needle in line, line


def test_docker_backend_without_an_engine_is_one_line_and_exit_2(tmp_path):
    proc = gameday("run", "--backend", "docker", "--out", str(tmp_path / "out"),
                   DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert "--backend docker" in line, line
    assert not (tmp_path / "out").exists()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


DEFAULT_IN_HELP = re.compile(r"\(default: ([^);,]+)\)")


def test_every_default_the_help_states_is_the_code_s():
    """`(default: X)` in an option's help is compared with the option's real default."""
    checked = 0
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            found = DEFAULT_IN_HELP.search(action.help or "")
            if not found or action.default is None or isinstance(action.default, list):
                continue
            stated, real = found.group(1).strip(), str(action.default)
            assert real == stated or real.endswith("/" + stated), (name, action.dest, stated, real)
            checked += 1
    assert checked >= 4  # run --out, merge --out, repeat -j, mutate --runbook, ...


def test_the_jobs_help_states_the_concurrency_the_code_chooses(monkeypatch):
    import psutil

    from harness.suite import execute

    run = _subparsers(build_parser())["run"]
    [jobs] = [a for a in run._actions if a.dest == "jobs"]
    text = " ".join((jobs.help or "").split())
    per_core = int(re.search(r"default: (\d+) per core", text).group(1))  # type: ignore[union-attr]
    per_gameday_mb = int(re.search(r"at (\d+) MB a gameday", text).group(1))  # type: ignore[union-attr]
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    plenty = type("M", (), {"available": 10**12})()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: plenty)
    assert execute.default_concurrency(1000) == per_core * 2
    tight = type("M", (), {"available": 3 * per_gameday_mb * 2**20 + 1})()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: tight)
    assert execute.default_concurrency(1000) == 3
    assert execute.default_concurrency(2) == 2  # never more than the gamedays


def test_run_help_lists_each_pytest_style_option_as_the_code_accepts_it():
    from harness.suite.selection import PYTEST_STYLE

    text = _subparsers(build_parser())["run"].format_help()
    for option in PYTEST_STYLE:
        assert option in text, option


def test_pytest_m_gameday_is_one_item_per_planned_gameday_with_the_verdict_asserted(tmp_path):
    """The thin adapter: the executor's plan as test items, each gameday's verdict asserted
    against its expectation, the record's fields as JUnit properties (fake backend)."""
    import sys
    import xml.etree.ElementTree as ET

    from trust.support import REPO

    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-m", "gameday", "-q",
         "-p", "no:randomly", "--backend", "fake", "--scenario", "service-down",
         "--junitxml", str(junit), "--gameday-out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, env=checkout_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert sorted(c.get("name") for c in cases) == sorted([
        "test_gameday[service-down-incident-response]",
        "test_gameday[service-down-incident-response.fixed]",
    ])
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["verdict"] == "recovered" and props["backend"] == "fake", props
    assert len(list((tmp_path / "out").glob("service-down--*.json"))) == 2
