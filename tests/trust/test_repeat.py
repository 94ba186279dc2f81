"""`gameday repeat N`: verdict counts per scenario, and exit 1 when a verdict differs."""

from __future__ import annotations

import subprocess

from harness.trust.repeat import RepeatReport, Series, table, to_markdown

from .support import REPO, checkout_env


def test_a_scenario_with_two_verdicts_is_reported_unstable():
    report = RepeatReport(rounds=3, backend="local", started_at="now", rounds_done=3)
    report.series = [
        Series("runbooks/a.md", "service-down", "recovered", ["recovered"] * 3, [1.0, 1.2, 0.9]),
        Series(
            "runbooks/a.md",
            "llm-quota",
            "recovered",
            ["recovered", "undetected", "recovered"],
            [2.0, None, 2.1],
            ["", "no detection step changed", ""],
        ),
    ]
    assert [s.scenario for s in report.unstable] == ["llm-quota"]
    text = table(report)
    assert "llm-quota" in text and "DIFFERS" in text
    assert text.splitlines()[1].endswith("stable")
    md = to_markdown(report)
    assert "1 scenario(s) gave different verdicts" in md and "run 2: undetected" in md


def test_repeat_runs_the_gameday_n_times_and_exits_0_when_verdicts_agree(tmp_path):
    out = tmp_path / "repeat.json"
    proc = subprocess.run(
        [
            "gameday",
            "repeat",
            "2",
            "--scenario",
            "service-down",
            "--backend",  # repeat's counting rules; the stack's processes are not in question
            "fake",
            "--runbook",
            str(REPO / "runbooks" / "incident-response.fixed.md"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=checkout_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.count("round ") == 2
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("incident-response.fixed"))
    assert row.split()[1:4] == ["service-down", "recovered", "2"] and row.endswith("stable")
    assert '"rounds_done": 2' in out.read_text()
