"""Runbook mutation testing (harness/trust/mutate/): the mutants are the edits they claim to be,
and a mutant that breaks recovery is killed while a redundant step survives, explained."""

from __future__ import annotations

import subprocess

import pytest

from harness.compose import ComposeFile
from harness.runbook.parse import parse_runbook_text
from harness.suite import catalog
from harness.trust.mutate import (
    MutationRun,
    derive_mutants,
    drop_fail,
    or_true,
    to_markdown,
    wrong_service_variants,
)

from .support import REPO, checkout_env

SERVICE_DOWN = catalog.get("service-down")
LLM_QUOTA = catalog.get("llm-quota")
REDIS_DOWN = catalog.get("redis-down")
MISSING_VARIABLE = catalog.get("wont-start-missing-variable")
DATABASE_DOWN = catalog.get("database-down")
OOM = catalog.get("high-memory-oom")
MEMORY_PRESSURE = catalog.get("high-memory-no-kill")
DATABASE_LINK_CUT = catalog.get("database-link-cut")

FIXED = REPO / "runbooks" / "incident-response.fixed.md"
TEXT = FIXED.read_text()
ALL = list(catalog.SCENARIOS.values())


def line_of(command: str, after: str = "") -> int:
    """The 1-based line of `command` in the fixed runbook, first after the `after` line."""
    lines = TEXT.split("\n")
    start = next((i for i, t in enumerate(lines) if after and after in t), 0)
    return next(i for i, t in enumerate(lines) if i >= start and t.strip() == command) + 1


@pytest.fixture(scope="module")
def mutants():
    return derive_mutants(TEXT, str(FIXED), ALL)[0]


def steps(text: str) -> dict[int, str]:
    runbook = parse_runbook_text(text, "mutant.md")
    return {s.line: s.command for sec in runbook.sections for s in sec.steps if s.command}


def test_every_mutant_parses_and_changes_only_its_own_step(mutants):
    original = steps(TEXT)
    assert len(mutants) > 50 and len({m.text for m in mutants}) == len(mutants)
    for m in mutants:
        mutated = steps(m.text)
        changed = {
            ln for ln in original.keys() | mutated.keys() if original.get(ln) != mutated.get(ln)
        }
        if m.operator == "reorder":
            assert mutated.get(m.line) != m.command, m.id
            assert m.command in mutated.values(), m.id
        else:
            assert changed == {m.line}, (m.id, changed)
            assert mutated.get(m.line, "") == (m.mutated if m.mutated.strip() else ""), m.id
        assert len(m.text.split("\n")) == len(TEXT.split("\n")), m.id  # line numbers hold


def test_only_sections_the_scenarios_exercise_are_mutated():
    scenario = SERVICE_DOWN
    found, _ = derive_mutants(TEXT, str(FIXED), [scenario])
    assert {m.section for m in found} == {"Service Down (SEV-1)"}
    assert {m.operator for m in found if m.role == "resolution"} == {
        "delete",
        "reorder",
        "wrong-service",
    }
    llm, _ = derive_mutants(TEXT, str(FIXED), [LLM_QUOTA])
    sections = {m.section for m in llm}
    assert sections == {"1. Detection and Alert", "Scenario 3: LLM API Issues"}
    assert all(m.role == "detection" for m in llm if m.section == "1. Detection and Alert")


def test_manual_detection_steps_and_instructions_are_listed_not_mutated():
    _, untouched = derive_mutants(TEXT, str(FIXED), ALL)
    reasons = {u.line: u.reason for u in untouched}
    assert reasons[line_of("kubectl get pods -n testgen")].startswith(
        "manual, never polled: `kubectl`"
    )
    assert reasons[line_of("# 2. Review memory trends")] == "instruction for a person"


def test_wrong_service_swaps_services_containers_and_ports_but_not_tools_or_users():
    assert [w for _, w in wrong_service_variants("docker-compose up -d ollama testgen")] == [
        "ollama → llm",
        "testgen → redis",
    ]
    variants = wrong_service_variants('docker exec testgen-postgres psql -U testgen -c "\\dt"')
    assert [v for v, _ in variants] == ['docker exec testgen-redis psql -U testgen -c "\\dt"']
    assert wrong_service_variants("redis-cli FLUSHALL") == []
    assert wrong_service_variants("tail /var/log/testgen/app.log") == []
    ports = [
        v
        for v, _ in wrong_service_variants("curl -sf http://localhost:8000/h || fuser -k 8000/tcp")
    ]
    assert ports == [
        "curl -sf http://localhost:6379/h || fuser -k 8000/tcp",
        "curl -sf http://localhost:8000/h || fuser -k 6379/tcp",
    ]


def test_weakening_drops_fail_and_keeps_trailing_comments_as_comments():
    assert drop_fail("curl -f http://x/health") == "curl http://x/health"
    assert drop_fail("curl -sf http://x") == "curl -s http://x"
    assert drop_fail("curl -fsS http://x") == "curl -sS http://x"
    assert drop_fail("curl --fail -s http://x") == "curl -s http://x"
    assert drop_fail("docker ps --filter name=x -f y") is None
    assert drop_fail("curl -s http://x") is None
    assert or_true("curl http://localhost:6379/  # Redis") == (
        "curl http://localhost:6379/ || true  # Redis"
    )
    assert or_true("echo '# not a comment'") == "echo '# not a comment' || true"


def test_mutate_list_prints_the_mutants_and_starts_nothing(tmp_path):
    proc = subprocess.run(
        ["gameday", "mutate", "--scenario", "service-down", "--list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=checkout_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("16 mutants of ")
    assert "L66-delete" in proc.stdout and "L67-delete" in proc.stdout


def test_a_step_recovery_needs_is_killed_and_a_redundant_one_survives_explained():
    compose = ComposeFile(REPO / "docker-compose.chaos.yml")
    lines = []
    run = MutationRun(
        FIXED,
        [REDIS_DOWN],
        "fake",  # a rule of mutate, not of processes: the fake plays Redis's restart rules
        compose,
        only=["L66-delete", "L67-delete"],
        progress=lines.append,
        concurrency=2,
    )
    report = run.run()
    status = {r.mutant.id: r for r in report.results}
    # `docker-compose up -d` is what starts a killed Redis; `restart testgen` never does.
    assert status["L67-delete"].status == "killed", status["L67-delete"].outcomes
    assert "recovered → not-recovered" in status["L67-delete"].outcomes[0].why
    assert status["L66-delete"].status == "survived", status["L66-delete"].outcomes
    assert "line 67 `docker-compose up -d` does the same" in status["L66-delete"].outcomes[0].why
    # The survivor is explained (an equivalent mutant), so the score counts only the other.
    assert [r.mutant.id for r in report.equivalent] == ["L66-delete"]
    assert report.score == 1.0
    md = to_markdown(report)
    assert "**Mutation score: 1/1 = 100%**" in md and "### L66-delete" in md
    assert "1 survivors are equivalent" in md
    # On the executor: the unmutated gameday, then both mutants' gamedays, each reported.
    assert sum(line.startswith(("L66-delete ", "L67-delete ")) for line in lines) == 2, lines


def _record(scenario, verdict="recovered", **kw):
    from harness.result import GamedayResult, Verdict

    return GamedayResult(
        scenario=scenario.id,
        title="",
        section=scenario.section,
        runbook=str(FIXED),
        backend="local",
        declared_severity=1,
        budget_s=300,
        fault="",
        fault_description="",
        verdict=Verdict(verdict),
        **kw,
    )


def test_survivors_are_classified_from_the_runbook_and_the_records(mutants):
    from harness.result import Impact, StepRun, StepStatus
    from harness.trust.mutate import classify_survivor

    by_id = {m.id: m for m in mutants}
    runbook = parse_runbook_text(TEXT, str(FIXED))

    def why(mid, scenario, original=None, result=None):
        return classify_survivor(
            by_id[mid],
            scenario,
            runbook,
            original or _record(scenario),
            result or _record(scenario),
        )

    vim = line_of("vim .env  # Add required values")
    assert why(f"L{vim}-delete", MISSING_VARIABLE).startswith("step is manual (`vim`")
    cp = line_of("cp .env.example .env")
    assert f"moved past (line {vim} `vim .env" in why(f"L{cp}-reorder", MISSING_VARIABLE)
    psql = line_of('docker exec testgen-postgres psql -U testgen -c "\\dt"')
    assert why(f"L{psql}-delete", DATABASE_DOWN).startswith("step only reads state")
    oom_restart = line_of("docker-compose restart testgen", after="Scenario 2:")
    assert "restart policy restarts it" in why(f"L{oom_restart}-delete", OOM)
    quiet = _record(MEMORY_PRESSURE, impact=Impact(incident_requests=9, incident_failed=0))
    assert "the fault check was not available" in why(
        f"L{oom_restart}-delete", MEMORY_PRESSURE, result=quiet
    )
    lifted = _record(DATABASE_LINK_CUT, verdict="recovered-after-lift")
    db_restart = line_of("docker-compose restart testgen", after="Scenario 4:")
    assert "recovers only once the world lifts the fault" in why(
        f"L{db_restart}-delete", DATABASE_LINK_CUT, result=lifted
    )

    def detected_by(line):
        step = StepRun("detect", "", "", f"cmd {line}", line, "detection", StepStatus.FAILED,
                       exit_code=7, baseline_exit=0, detected=True)  # fmt: skip
        return _record(SERVICE_DOWN, steps=[step], ttd_s=0.1)

    took_over = why("L63-or-true", SERVICE_DOWN, detected_by(63), detected_by(73))
    assert took_over.startswith("another detection step took over: line 73")
    assert why("L73-drop-fail", SERVICE_DOWN, detected_by(73), detected_by(73)).startswith(
        "the weakened step still detects"
    )


def test_two_exports_of_different_variables_commute():
    from harness.runbook.model import Role, Step
    from harness.trust.mutate.classify import _reorder_commutes

    first = Step("export PRIMARY_LLM_PROVIDER=anthropic", "", 10, Role.RESOLUTION, "s")
    second = Step("export LOCAL_LLM_ENABLED=true", "", 12, Role.RESOLUTION, "s")
    same = Step("export PRIMARY_LLM_PROVIDER=ollama", "", 14, Role.RESOLUTION, "s")
    assert "export different variables" in (_reorder_commutes(first, second, []) or "")
    assert _reorder_commutes(first, same, []) is None  # the same variable: order matters


def test_classifier_knows_commuting_steps_and_guard_only_mutations():
    from harness.shell.commands import acted_services as _acted_services
    from harness.trust.mutate import Mutant
    from harness.trust.mutate.classify import _guard_only

    # `restart testgen` and `redis-cli FLUSHALL` act on different services: they commute.
    assert _acted_services("docker-compose restart testgen") == {"testgen"}
    assert _acted_services("redis-cli FLUSHALL") == {"redis"}
    assert _acted_services("docker logs testgen-copilot") == set()  # reads only
    step = "curl -sf http://localhost:8000/health || fuser -k 8000/tcp"
    guard = Mutant(
        "L198-wrong-service",
        198,
        "resolution",
        "s",
        "wrong-service",
        "d",
        step,
        "curl -sf http://localhost:6379/health || fuser -k 8000/tcp",
        (),
        "",
    )
    assert _guard_only(step, guard) == "curl -sf http://localhost:6379/health"
    action = Mutant(
        "L198-wrong-service-2",
        198,
        "resolution",
        "s",
        "wrong-service",
        "d",
        step,
        "curl -sf http://localhost:8000/health || fuser -k 6379/tcp",
        (),
        "",
    )
    assert _guard_only(step, action) is None  # the action changed: not equivalent by this rule


def test_the_record_scores_and_renders_without_running_anything():
    """record.py and render.py on a hand-made record: a killed mutant, an equivalent
    survivor (explained) and an unexplained one; the score counts only the latter two's
    non-equivalent part, and every view says the same."""
    from harness.trust.mutate.classify import UNEXPLAINED
    from harness.trust.mutate.record import (
        SCHEMA,
        MutantResult,
        MutationReport,
        OriginalRun,
        ScenarioOutcome,
    )
    from harness.trust.mutate.render import score_line, table

    def mutant(mid):
        return next(m for m in derive_mutants(TEXT, str(FIXED), ALL)[0] if m.id == mid)

    report = MutationReport(str(FIXED), "fake", ["service-down"], "2026-12-03T00:00:00+00:00")
    report.originals["service-down"] = OriginalRun("service-down", "recovered", 5.0, 63, 0.5, 2.0)
    killed = ScenarioOutcome("service-down", "recovered", "failed", True, "recovered → failed")
    same = ScenarioOutcome("service-down", "recovered", "recovered", False, "only reads", 1.0,
                           equivalent=True)  # fmt: skip
    unexplained = ScenarioOutcome("service-down", "recovered", "recovered", False,
                                  f"{UNEXPLAINED}: ...)")  # fmt: skip
    ids = [m.id for m in derive_mutants(TEXT, str(FIXED), [SERVICE_DOWN])[0]][:3]
    for mid, outcome, status in zip(
        ids, (killed, same, unexplained), ("killed", "survived", "survived"), strict=True
    ):
        report.results.append(MutantResult(mutant(mid), status, [outcome]))
    report.total_mutants = 5
    assert report.score == 0.5  # 1 killed of 2 counted (the equivalent survivor is not)
    data = report.to_dict()
    assert data["schema"] == SCHEMA and "text" not in data["mutants"][0]
    assert data["score"]["equivalent"] == 1 and data["score"]["pairs"] == 3
    assert score_line(report).startswith("mutation score: 1/2 = 50% killed (1 equivalent")
    assert "2 of 5 mutants not run" in score_line(report)
    assert table(report).splitlines()[1].startswith(ids[0])
    md = to_markdown(report)
    assert "**Mutation score: 1/2 = 50%**" in md and "(**interrupted: partial results**)" in md
    assert md.index("## Survivors") < md.index("## Every mutant") < md.index("## How each")
