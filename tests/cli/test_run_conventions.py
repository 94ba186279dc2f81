"""`gameday run` as a CLI: --version, pytest's options taken directly, progress lines that
name the runbook and the phase, JUnit properties per field, exit 130/143 with an interrupted
results.json that `gameday diff` reads, no results.json for --collect-only, and gamedays run
concurrently (pytest-xdist) with the verdicts of a serial run, longest first.

The few real gamedays here are `service-down` on the local backend (a few seconds each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from trust.support import REPO, checkout_env

from harness.reports.json_results import read_run
from harness.suite.plugin import junit_properties

FIXED = REPO / "runbooks" / "incident-response.fixed.md"
SHIPPED = REPO / "runbooks" / "incident-response.md"
ONE = ("--backend", "local", "--scenario", "service-down")


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
    for option in ("-j N, --jobs N, -n N", "-q, --quiet", "-v, --verbose", "-x, --exitfirst"):
        assert option in text, option
    assert "--junitxml PATH" in text


def test_collect_only_writes_no_results_json(tmp_path):
    out = tmp_path / "out"
    proc = gameday("run", *ONE, "--out", str(out), "--", "--collect-only", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "test_gameday[service-down-" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == []  # no results.json, reviews, report


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


def _collected(tmp_path: Path, out: Path) -> list[str]:
    proc = subprocess.run(
        ["python", "-m", "pytest", str(REPO / "scenarios"), "-m", "gameday", "--collect-only",
         "-q", "--backend", "local", "--gameday-out", str(out), "-p", "no:randomly",
         "--rootdir", str(REPO), "--runbook", str(FIXED)],
        capture_output=True, text=True, cwd=tmp_path, env=checkout_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [
        line.split("[", 1)[1].removesuffix("-incident-response.fixed]")
        for line in proc.stdout.splitlines()
        if "::test_gameday[" in line
    ]


def test_gamedays_are_ordered_longest_first_by_the_last_run_else_by_their_windows(tmp_path):
    from harness.suite import catalog
    from harness.suite.baseline import expectation
    from harness.suite.plugin import estimated_duration

    out = tmp_path / "out"
    out.mkdir()
    by_windows = _collected(tmp_path, out)
    assert len(by_windows) == len(catalog.SCENARIOS)
    # No history: the windows and the verdict the runbook's baseline expects decide.
    estimates = [
        estimated_duration(s, FIXED.stem, {}, expectation(FIXED, s, catalog.SCENARIOS[s].expected))
        for s in by_windows
    ]
    assert estimates == sorted(estimates, reverse=True)
    assert estimates[0] > estimates[-1]  # the order is not the catalog's by accident

    # A previous run's durations decide instead: the reverse of the catalog's order here.
    ids = list(catalog.SCENARIOS)
    results = [
        {"scenario": sid, "runbook": str(FIXED), "duration_s": float(i + 1)}
        for i, sid in enumerate(ids)
    ]
    (out / "results.json").write_text(json.dumps({"schema_version": 2, "results": results}))
    assert _collected(tmp_path, out) == list(reversed(ids))


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
    for phase in ("up", "steady-state", "baseline", "inject", "detected", "recovered"):
        assert f"incident-response.fixed.md  service-down: {phase}" in lines, phase
    assert any(
        line.startswith("incident-response.fixed.md  service-down: recovered (TTD ")
        for line in lines
    ), proc.stdout[-3000:]
    header = next(line for line in lines if line.startswith("gameday: backend="))
    assert header.startswith("gameday: backend=local (chosen), runbooks="), header
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
    assert "bringing up nodes..." in proc.stdout  # pytest-xdist's workers (quiet mode)
    run = read_run(out)
    got = sorted((Path(r.runbook).name, r.scenario, r.verdict.value) for r in run.results)
    assert got == [
        ("incident-response.fixed.md", "service-down", "recovered"),
        ("incident-response.md", "service-down", "recovered"),
    ]
    # Each gameday had a stack of its own: the API answered on a different port in each.
    assert len({tuple(sorted(r.address_map)) for r in run.results}) == 2
    assert "incident-response.md  service-down: recovered (TTD" in proc.stdout
    assert len(list((out / "reviews").glob("*.md"))) == 2


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["gameday", "run", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=checkout_env(),
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
        (signal.SIGTERM, 143, "incident-response.fixed.md  service-down: recovered (TTD", "1"),
        # Ctrl-C while the first gameday's stack is up: nothing finished, still written.
        (signal.SIGINT, 130, "incident-response.fixed.md  service-down: baseline", "1"),
        # Concurrent: the controller forwards SIGTERM to its xdist workers, which unwind.
        (signal.SIGTERM, 143, "incident-response.fixed.md  service-down: recovered (TTD", "2"),
    ],
    ids=["sigterm", "ctrl-c", "sigterm-concurrent"],
)
def test_an_interrupted_run_exits_128_plus_signal_with_a_partial_results_json_diff_reads(
    tmp_path, signum, status, after, jobs
):
    out = tmp_path / "out"
    # Concurrent: database-down (longer, started first) is still running at the signal.
    more = ("--scenario", "database-down") if jobs == "2" else ("--runbook", str(SHIPPED))
    proc = _start(
        tmp_path, *ONE, "--runbook", str(FIXED), *more, "-j", jobs, "--out", str(out),
    )  # fmt: skip
    try:
        _wait_for(proc, after)
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
    assert finished == (["service-down"] if signum == signal.SIGTERM else []), finished
    results = str(out / "results.json")
    diff = gameday("diff", results, results, cwd=tmp_path, timeout=60)
    assert diff.returncode == 0, diff.stderr



def test_the_backend_header_gives_the_reason_without_the_exception_text():
    from harness.suite.plugin import _first_clause

    why = (
        "auto: no Docker engine answers (Error while fetching server API version: "
        "('Connection aborted.', FileNotFoundError(2, 'No such file or directory')))"
    )
    assert _first_clause(why) == "auto: no Docker engine answers"
    assert _first_clause("chosen") == "chosen"


def test_default_jobs_is_bounded_by_the_gamedays_and_at_least_one():
    from harness.cli import default_jobs

    assert default_jobs(1) == 1
    assert 1 <= default_jobs(100) <= 4 * (os.cpu_count() or 1)


def test_an_undetected_incident_is_estimated_to_wait_its_whole_detection_window():
    """The shipped runbook's performance gameday waits its 20 s window, then runs its
    resolution: it must start before the gamedays whose fault is detected at once."""
    from harness.suite import catalog
    from harness.suite.baseline import Expectation
    from harness.suite.plugin import DETECTED_S, estimated_duration

    scenario = catalog.SCENARIOS["performance"]
    undetected = estimated_duration(
        "performance", "x", {}, Expectation("undetected", resolution="recovered-after-lift")
    )
    detected = estimated_duration("performance", "x", {}, Expectation("recovered-after-lift"))
    assert undetected - detected == scenario.detect_window_s - DETECTED_S
    # A previous run's duration wins over any estimate.
    assert estimated_duration("performance", "x", {("performance", "x"): 1.5}, None) == 1.5


def test_under_xdist_the_longest_gamedays_do_not_share_a_worker_s_first_two_slots():
    """xdist gives each worker two consecutive tests first: the k-th longest is paired with
    the (2n-1-k)-th, so worker 0 does not run the two longest back to back."""
    from harness.suite.plugin import _paired_for_xdist

    ranked = [35, 33, 23, 20, 18, 16, 13, 13, 12, 11]  # longest first
    paired = _paired_for_xdist(ranked, 4)
    firsts = [paired[i] + paired[i + 1] for i in range(0, 8, 2)]
    assert paired[:8] == [35, 13, 33, 13, 23, 16, 20, 18]
    assert max(firsts) < ranked[0] + ranked[1]
    assert paired[8:] == [12, 11]
    assert _paired_for_xdist(ranked, 1) == ranked  # serial: longest first as is
    assert _paired_for_xdist(ranked[:5], 4) == ranked[:5]  # dealt one at a time
