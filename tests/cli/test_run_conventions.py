"""`gameday run` as a CLI: --version, pytest's options taken directly, progress lines that
name the runbook and the phase, JUnit properties per field, exit 130/143 with an interrupted
results.json that `gameday diff` reads, no results.json for --collect-only, and gamedays run
concurrently (pytest-xdist) with the verdicts of a serial run, longest first.

The few real gamedays here are `service-down` on the local backend (a few seconds each)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from trust.support import REPO, checkout_env

from harness.reports.json_results import read_run
from harness.suite.plugin import junit_properties

FIXED = REPO / "runbooks" / "incident-response.fixed.md"
SHIPPED = REPO / "runbooks" / "incident-response.md"
ONE = ("--backend", "local", "--scenario", "service-down")
# The status board's finished line for it (harness/reports/board.py).
FIXED_RECOVERED = "service-down                   incident-response.fixed  TTD"


def gameday(*argv: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gameday", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=checkout_env(),
        timeout=timeout,
    )


def test_version_names_the_harness_release(tmp_path):
    proc = gameday("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "gameday 0.1.0"


def test_run_help_states_the_real_default_backend_and_the_direct_pytest_options(tmp_path):
    proc = gameday("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "auto (the default" in text and "local (default)" not in text
    for option in ("-j N, --jobs N, -n N", "-q, --quiet", "-v, --verbose", "-x, --exitfirst",
                   "-k EXPR", "--shard I/N"):  # fmt: skip
        assert option in text, option
    assert "--junitxml PATH" in text


def test_collect_only_lists_the_gamedays_by_their_pytest_names_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = gameday("run", *ONE, "--out", str(out), "--", "--collect-only", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "scenarios/test_gamedays.py::test_gameday[service-down-incident-response]" in (
        proc.stdout.splitlines())
    assert not out.exists()  # no results.json, reviews, report


def test_junit_properties_are_one_per_field_with_json_for_structured_values():
    record = {
        "verdict": "undetected",
        "ttd_s": None,
        "ttr_s": 12.5,
        "budget_s": 300.0,
        "reason": "no detection step changed",
        "resolution_finding": {"verdict": "not-recovered", "reason": "x"},
        "steps": [{"command": "curl ..."}],  # the rest of the record stays out
    }
    props = dict(junit_properties([("gameday", record), ("other", "kept")]))
    assert props == {
        "verdict": "undetected",
        "ttd_s": "null",
        "ttr_s": "12.5",
        "budget_s": "300.0",
        "reason": "no detection step changed",
        "resolution_finding": '{"verdict": "not-recovered", "reason": "x"}',
        "other": "kept",
    }


def test_gamedays_are_ordered_longest_first_by_the_last_run_else_by_their_estimates():
    from harness.runbook.parse import parse_runbook
    from harness.suite import catalog
    from harness.suite.execute import longest_first, plan

    jobs = plan([parse_runbook(FIXED)])
    assert len(jobs) == len(catalog.for_runbook(str(FIXED)))
    estimates = [j.estimate_s for j in jobs]
    assert estimates == sorted(estimates, reverse=True)
    assert estimates[0] > estimates[-1]  # the order is not the catalog's by accident
    # A previous run's durations decide instead: the reverse of the plan's order here.
    previous = {j.key: float(i + 1) for i, j in enumerate(jobs)}
    assert [j.key for j in longest_first(jobs, previous)] == [j.key for j in reversed(jobs)]


def test_pytest_collects_the_gamedays_in_the_executor_s_order(tmp_path):
    from harness.runbook.parse import parse_runbook
    from harness.suite.execute import plan

    proc = subprocess.run(
        ["python", "-m", "pytest", str(REPO / "scenarios"), "-m", "gameday", "--collect-only",
         "-q", "--backend", "local", "-p", "no:randomly", "--rootdir", str(REPO),
         "--runbook", str(FIXED)],
        capture_output=True, text=True, cwd=tmp_path, env=checkout_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    collected = [line.split("[", 1)[1].removesuffix("-incident-response.fixed]")
                 for line in proc.stdout.splitlines() if "::test_gameday[" in line]  # fmt: skip
    assert collected == [j.scenario.id for j in plan([parse_runbook(FIXED)])]


def _junit(path: Path) -> dict[str, str]:
    case = ET.parse(path).getroot().find(".//testcase")
    assert case is not None
    return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}


def test_serial_run_shows_phases_names_the_runbook_and_writes_structured_junit(tmp_path):
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    proc = gameday(
        "run", *ONE, "--runbook", str(FIXED), "--out", str(out), "-j", "1", "-x", "-v",
        "--junitxml", str(junit), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    for phase in ("up", "steady-state", "baseline", "inject", "detected", "recovery-seen"):
        assert any(f"incident-response.fixed.md  service-down: {phase}" in ln
                   for ln in lines), phase  # fmt: skip
    assert any(FIXED_RECOVERED in line for line in lines), proc.stdout[-3000:]
    props = _junit(junit)
    assert "gameday" not in props  # no Python dict printout
    assert props["verdict"] == "recovered"
    assert float(props["ttr_s"]) > 0 and float(props["ttd_s"]) >= 0
    assert props["budget_s"] == "300.0" and props["reason"] == ""
    run = read_run(out)
    assert [r.scenario for r in run.results] == ["service-down"]
    assert run.info.interrupted is False
    assert not list(out.rglob(".*.tmp"))


def test_concurrent_run_gives_each_gameday_its_stack_and_the_expected_verdicts(tmp_path):
    out = tmp_path / "out"
    proc = gameday("run", *ONE, "--out", str(out), "-j", "2", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    run = read_run(out)
    got = sorted((Path(r.runbook).name, r.scenario, r.verdict.value) for r in run.results)
    assert got == [
        ("incident-response.fixed.md", "service-down", "recovered"),
        ("incident-response.md", "service-down", "recovered"),
    ]
    # Each gameday had a stack of its own: the API answered on a different port in each.
    assert len({tuple(sorted(r.address_map)) for r in run.results}) == 2
    assert len(list((out / "reviews").glob("*.md"))) == 2


def _start(tmp_path: Path, *argv: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["gameday", "run", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=checkout_env(**env),
    )


def _wait_for(proc: subprocess.Popen[str], needle: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return seen
    proc.wait()
    pytest.fail(f"never printed {needle!r}: {''.join(seen)[-3000:]}")


@pytest.mark.parametrize(
    ("signum", "status", "after", "jobs"),
    [
        # SIGTERM once the first of two gamedays is done: that one is kept.
        (signal.SIGTERM, 143, FIXED_RECOVERED, "1"),
        # Ctrl-C while the first gameday's stack is up: nothing finished, still written.
        (signal.SIGINT, 130, "incident-response.fixed.md  service-down: baseline", "1"),
        # Concurrent: the executor forwards the signal to its children, which unwind; the
        # gameday that finished first is kept.
        (signal.SIGTERM, 143, FIXED_RECOVERED, "2"),
        (signal.SIGINT, 130, FIXED_RECOVERED, "2"),
    ],
    ids=["sigterm", "ctrl-c", "sigterm-concurrent", "kill-int-concurrent"],
)
def test_an_interrupted_run_exits_128_plus_signal_with_a_partial_results_json_diff_reads(
    tmp_path, signum, status, after, jobs
):
    out = tmp_path / "out"
    # A TMPDIR of its own, where the stacks' leftovers would be seen (under /tmp: PostgreSQL
    # runs unprivileged and must traverse it).
    stacks = Path(tempfile.mkdtemp(prefix="gd-interrupted-"))
    stacks.chmod(0o711)
    # Concurrent: database-down (longer, started first) is still running at the signal.
    more = ("--scenario", "database-down") if jobs == "2" else ("--runbook", str(SHIPPED))
    proc = _start(
        tmp_path, *ONE, "--runbook", str(FIXED), *more, "-j", jobs, "--out", str(out), "-v",
        TMPDIR=str(stacks),
    )  # fmt: skip
    try:
        _wait_for(proc, after)
        segments = _stack_segments(stacks)  # the running stacks' PostgreSQL shared memory
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err[-3000:]
    assert "Traceback" not in err and "Traceback" not in rest, err[-3000:]
    assert f"gameday: interrupted by {signal.Signals(signum).name}" in err
    run = read_run(out)
    assert run.info.interrupted is True
    finished = [r.scenario for r in run.results]
    assert finished == (["service-down"] if after == FIXED_RECOVERED else []), finished
    assert set(run.info.expected) >= {"service-down--incident-response.fixed"}  # the plan
    _assert_nothing_left(stacks, segments)
    shutil.rmtree(stacks, ignore_errors=True)
    results = str(out / "results.json")
    diff = gameday("diff", results, results, cwd=tmp_path, timeout=60)
    assert diff.returncode == 0, diff.stderr



def _stack_pids(tmp: Path) -> set[int]:
    return {int(line.split()[0]) for f in tmp.glob(".gameday-*.pids")
            for line in f.read_text().splitlines() if line.strip()}  # fmt: skip


def _stack_segments(tmp: Path) -> set[Path]:
    """The /dev/shm segments the stacks' processes have mapped now."""
    found = set()
    for pid in _stack_pids(tmp):
        try:
            with open(f"/proc/{pid}/maps") as f:
                found |= {Path(ln.split(None, 5)[-1].strip()) for ln in f
                          if "/dev/shm/PostgreSQL." in ln}  # fmt: skip
        except OSError:
            continue
    return found


def _assert_nothing_left(tmp: Path, segments: set[Path]) -> None:
    """No process of the stacks alive, no stack dir left, none of the shared memory segments
    their PostgreSQL had mapped left in /dev/shm (the reapers are given 10 s)."""
    import psutil

    pids = _stack_pids(tmp)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
        dirs = list(tmp.glob("gameday-*")) + list(tmp.glob(".gameday-*"))
        shm = [p for p in segments if p.exists()]
        if not left and not dirs and not shm:
            return
        time.sleep(0.2)
    raise AssertionError(f"left behind: processes {left}, dirs {dirs}, shm {shm}")


def test_default_concurrency_is_bounded_by_the_gamedays_and_at_least_one():
    from harness.suite.execute import PER_CORE, default_concurrency

    assert default_concurrency(1) == 1
    assert 1 <= default_concurrency(100) <= PER_CORE * (os.cpu_count() or 1)


def test_an_undetected_incident_is_estimated_to_wait_its_whole_detection_window():
    """The shipped runbook's performance gameday waits its 20 s window, then runs its
    resolution: it must start before the gamedays whose fault is detected at once."""
    from harness.suite import catalog
    from harness.suite.baseline import Expectation
    from harness.suite.execute import DETECTED_S, estimated_duration

    scenario = catalog.SCENARIOS["performance"]
    undetected = estimated_duration(
        scenario, Expectation("undetected", resolution="recovered-after-lift")
    )
    detected = estimated_duration(scenario, Expectation("recovered-after-lift"))
    assert undetected - detected == scenario.detect_window_s - DETECTED_S
