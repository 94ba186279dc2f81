"""`gameday run --shard i/N` and `gameday merge`: N runners, one run.

The plan is a pure function of the checkout, so every runner computes the same shards; the
shards partition it and balance its estimated time; 3 shards merged give the verdicts, the
exit status and the results of the unsharded run (on the fake backend, which runs the same
runner against in-process services)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from trust.support import REPO, checkout_env

from harness.reports.json_results import read_run
from harness.runbook.parse import parse_runbook
from harness.suite.execute import plan, shard

RUNBOOKS = sorted((REPO / "runbooks").glob("*.md"))
# A mix of verdicts on the shipped runbook: recovered, undetected + second finding, data-loss.
SCENARIOS = ("service-down", "llm-quota", "database-down", "wont-start-missing-variable")


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_partition_the_plan_and_balance_its_estimated_time(count):
    jobs = plan([parse_runbook(p) for p in RUNBOOKS])
    shards = [shard(jobs, i, count) for i in range(1, count + 1)]
    keys = [j.key for s in shards for j in s]
    assert sorted(keys) == sorted(j.key for j in jobs) and len(set(keys)) == len(keys)
    loads = [sum(j.estimate_s for j in s) for s in shards]
    assert max(loads) - min(loads) <= max(j.estimate_s for j in jobs)
    # The same plan again (another runner) gives the same shards, in the run's order.
    again = plan([parse_runbook(p) for p in RUNBOOKS])
    assert [[j.key for j in s] for s in shards] == [
        [j.key for j in shard(again, i, count)] for i in range(1, count + 1)
    ]


def _run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gameday", *argv], capture_output=True, text=True, cwd=tmp_path,
        env=checkout_env(), timeout=600,
    )  # fmt: skip


def _verdicts(path: Path) -> dict[str, tuple[str, str | None]]:
    return {
        f"{r.scenario}--{Path(r.runbook).stem}": (
            r.verdict.value, r.resolution_finding.verdict.value if r.resolution_finding else None)
        for r in read_run(path).results
    }


def test_three_shards_merged_equal_the_unsharded_run(tmp_path):
    selection = [a for s in SCENARIOS for a in ("--scenario", s)]
    whole = _run(tmp_path, "run", "--backend", "fake", *selection, "--out", "whole", "-q")
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    for i in (1, 2, 3):
        part = _run(tmp_path, "run", "--backend", "fake", *selection, "--shard", f"{i}/3",
                    "--out", f"shard{i}", "-q")  # fmt: skip
        assert part.returncode == 0, part.stdout[-3000:] + part.stderr[-3000:]
        assert read_run(tmp_path / f"shard{i}").info.shard == f"{i}/3"
    merged = _run(tmp_path, "merge", "shard1", "shard2", "shard3", "--out", "merged",
                  "--junitxml", "merged/junit.xml", "--history", "history")  # fmt: skip
    assert merged.returncode == whole.returncode, merged.stdout + merged.stderr
    assert _verdicts(tmp_path / "merged") == _verdicts(tmp_path / "whole")
    assert len(_verdicts(tmp_path / "whole")) == len(SCENARIOS) * len(RUNBOOKS)
    info = read_run(tmp_path / "merged").info
    assert info.expected == read_run(tmp_path / "whole").info.expected
    assert (tmp_path / "merged" / "report.html").is_file()
    assert len(list((tmp_path / "merged" / "reviews").glob("*.md"))) == len(SCENARIOS) * 2
    assert (tmp_path / "merged" / "junit.xml").is_file()
    assert [p.name for p in (tmp_path / "history").rglob("results.json")] == ["results.json"]
    assert "regression(s) against nothing yet" in merged.stdout


def test_merge_says_which_planned_gameday_has_no_result_and_exits_1(tmp_path):
    sid = ("--scenario", "service-down")
    for i in (1, 2):
        part = _run(tmp_path, "run", "--backend", "fake", *sid, "--shard", f"{i}/2",
                    "--out", f"shard{i}", "-q")  # fmt: skip
        assert part.returncode == 0, part.stdout[-3000:] + part.stderr[-3000:]
    merged = _run(tmp_path, "merge", "shard1", "--out", "merged")  # shard 2 is missing
    assert merged.returncode == 1, merged.stdout + merged.stderr
    assert "shard 2/2: not given" in merged.stdout
    data = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert len(data["results"]) == 1
    # The same shard twice is bad input, one line.
    twice = _run(tmp_path, "merge", "shard1", "shard1", "--out", "merged2")
    assert twice.returncode == 2 and len(twice.stderr.splitlines()) == 1, twice.stderr
