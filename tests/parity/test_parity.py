"""Both backends tell the same truth: every scenario of every runbook, run on the local and
on the docker backend, gives the same verdict and the same class of reason.

The two are compared with each other, never with a table of expected verdicts (those are
the scenario suite's business, and they change as verdicts are refined). The reason class
is what a reader acts on, without the figures that differ from run to run:

    data-loss ──▶ which step destroyed the data ("after line 191 `docker-compose down -v`")
    not-recovered ──▶ why (fault still in effect / came back but did not stay up / did not
                      recover / nothing changes anything), and the step that destroyed data
    undetected ──▶ the second finding's verdict (what the resolution achieved anyway)
    others ──▶ the verdict alone

Docker needs an engine and the locally built images (`scripts/ci-docker.sh`, which runs
this module). To spend no gameday twice, the results can come from the scenario suites'
`--gameday-out DIR` of the same CI job (ci-docker.sh runs the local suite beside the
docker one): GAMEDAY_PARITY_DOCKER_RESULTS and GAMEDAY_PARITY_LOCAL_RESULTS name those
DIRs, each holding `<scenario>--<runbook>.json` files (pytest's `--gameday-out`) or a
`results.json` (`gameday run --out`, as the docker lane runs its gamedays); a scenario
without a result there runs here, on that backend.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from harness.backends import docker_problem, make_stack
from harness.compose import ComposeFile
from harness.result import GamedayResult, Verdict
from harness.run.gameday import Gameday
from harness.runbook.parse import parse_runbook
from harness.suite import catalog

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.chaos.yml"
RUNBOOKS = sorted((ROOT / "runbooks").glob("*.md"))

pytestmark = [pytest.mark.docker, pytest.mark.gameday]


def require_docker() -> None:
    """Skip (with the reason) where docker cannot run or the run is local-only
    (GAMEDAY_BACKEND=local); fail instead under GAMEDAY_REQUIRE_DOCKER=1, as in CI."""
    required = os.environ.get("GAMEDAY_REQUIRE_DOCKER") == "1"
    if os.environ.get("GAMEDAY_BACKEND") == "local" and not required:
        pytest.skip("parity NOT TESTED: GAMEDAY_BACKEND=local (scripts/ci-docker.sh runs it)")
    problem = docker_problem(ComposeFile(COMPOSE))
    if problem and required:
        pytest.fail(f"docker backend required (GAMEDAY_REQUIRE_DOCKER=1) but {problem}")
    if problem:
        pytest.skip(f"parity NOT TESTED: {problem}")


def reason_class(result: GamedayResult) -> tuple[str, ...]:
    """What the verdict says, in a form both backends must agree on."""
    verdict, reason = result.verdict, result.reason
    culprit = re.search(r"(?:after|and) (line \d+) `", reason)
    destroyed = (culprit.group(1),) if culprit else ()
    if verdict == Verdict.DATA_LOSS:
        return (verdict.value, *destroyed)
    if verdict == Verdict.NOT_RECOVERED:
        # A step the verdict names as a silent no-op (`redis-cli FLUSHALL` answered NOAUTH and
        # exited 0) is the runbook's defect itself: how the left-over fault then shows (an OOM
        # loop breaking the hold, or the poisoned entries found by the fault check) depends on
        # which popular entry the load reads first, not on the engine.
        no_op = re.search(r"step (line \d+) `[^`]*` answered `[^`]*` and exited 0", reason)
        if no_op:
            return (verdict.value, f"silent no-op at {no_op.group(1)}", *destroyed)
        kinds = {
            "then lost after": "did not stay up",
            "the fault is still in effect": "fault still in effect",
            "fault is still in effect": "fault still in effect",
            "came back but did not stay up": "did not stay up",
            "did not recover": "did not recover",
            "has no step that changes anything": "changes nothing",
            "was not verified": "not verified",
        }
        kind = next((k for text, k in kinds.items() if text in reason), "other")
        return (verdict.value, kind, *destroyed)
    if verdict == Verdict.UNDETECTED and result.resolution_finding is not None:
        return (verdict.value, f"then {result.resolution_finding.verdict.value}")
    return (verdict.value,)


def run(backend: str, runbook_path: Path, scenario_id: str) -> GamedayResult:
    compose = ComposeFile(COMPOSE)
    game = Gameday(
        parse_runbook(runbook_path),
        catalog.get(scenario_id),
        lambda env: make_stack(backend, compose, env, env_example=ROOT / ".env.example"),
    )
    return game.run()


def recorded(results_dir: Path, runbook_path: Path, scenario_id: str) -> GamedayResult | None:
    """The scenario's result kept in a results dir: its own JSON file (pytest's
    `--gameday-out`), else its entry in the run's results.json (`gameday run --out`)."""
    path = results_dir / f"{scenario_id}--{runbook_path.stem}.json"
    if path.exists():
        return GamedayResult.from_dict(json.loads(path.read_text()))
    run_file = results_dir / "results.json"
    if not run_file.exists():
        return None
    for entry in json.loads(run_file.read_text()).get("results", []):
        if entry.get("scenario") == scenario_id and Path(str(entry.get("runbook"))).stem == (
            runbook_path.stem
        ):
            return GamedayResult.from_dict(entry)
    return None


def result_on(backend: str, runbook_path: Path, scenario_id: str) -> GamedayResult:
    """The scenario's result on a backend: from the CI job's results dir, else run now."""
    shared = os.environ.get(f"GAMEDAY_PARITY_{backend.upper()}_RESULTS")
    if shared:
        result = recorded(Path(shared), runbook_path, scenario_id)
        if result is not None and result.backend == backend:
            return result
    return run(backend, runbook_path, scenario_id)


def describe(result: GamedayResult) -> str:
    second = result.resolution_finding
    return (
        f"{result.backend}: {result.verdict.value} — {result.reason}"
        + (f" [then {second.verdict.value}: {second.reason}]" if second else "")
        + f" (TTD {result.ttd_s}, TTR {result.ttr_s})"
    )


@pytest.mark.parametrize("scenario_id", list(catalog.SCENARIOS))
@pytest.mark.parametrize("runbook_path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_both_backends_give_the_same_verdict_for_the_same_reason(
    runbook_path: Path, scenario_id: str
) -> None:
    require_docker()
    docker = result_on("docker", runbook_path, scenario_id)
    local = result_on("local", runbook_path, scenario_id)
    print(f"\n{scenario_id} on {runbook_path.stem}\n  {describe(local)}\n  {describe(docker)}")
    assert reason_class(local) == reason_class(docker), (
        f"the backends disagree on {scenario_id} ({runbook_path.stem}):\n"
        f"  {describe(local)}\n  {describe(docker)}"
    )


def remote_results() -> Path:
    """The remote engine's docker results dir (scripts/ci-docker.sh --remote-suites)."""
    shared = os.environ.get("GAMEDAY_PARITY_REMOTE_RESULTS")
    if not shared:
        reason = "remote-engine parity NOT TESTED: GAMEDAY_PARITY_REMOTE_RESULTS unset"
        if os.environ.get("GAMEDAY_REQUIRE_REMOTE_ENGINE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(shared)


@pytest.mark.parametrize("scenario_id", list(catalog.SCENARIOS))
@pytest.mark.parametrize("runbook_path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_a_remote_engine_gives_the_same_verdict_for_the_same_reason(
    runbook_path: Path, scenario_id: str
) -> None:
    """The docker backend on a remote engine (DOCKER_HOST=tcp://…) against the same backend
    on the local engine: same verdict, same class of reason, for every scenario."""
    remote_dir = remote_results()
    require_docker()
    remote = recorded(remote_dir, runbook_path, scenario_id)
    assert remote is not None, (
        f"the remote engine's run left no result for {scenario_id} ({runbook_path.stem})"
    )
    local_engine = result_on("docker", runbook_path, scenario_id)
    print(f"\n{scenario_id} on {runbook_path.stem}\n  {describe(local_engine)}\n"
          f"  remote engine {describe(remote)}")
    assert reason_class(local_engine) == reason_class(remote), (
        f"the engines disagree on {scenario_id} ({runbook_path.stem}):\n"
        f"  local engine {describe(local_engine)}\n  remote engine {describe(remote)}"
    )
