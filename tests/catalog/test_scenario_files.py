"""Scenarios as data: the built-in catalog file, a runbook's own file, and every way a
scenario file can be wrong (one line naming file and line, exit status 2 through the CLI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults.llm_provider import LlmProviderFault
from harness.faults.network import LinkToxic, Toxics
from harness.faults.service_killed import ServiceKilled
from harness.run.scenario import ScenarioError
from harness.runbook.parse import parse_runbook
from harness.suite import catalog

REPO = Path(__file__).resolve().parents[2]
FIXED = REPO / "runbooks" / "incident-response.fixed.md"

SERVICE_DOWN_COPY = """
[[scenario]]
id = "team-service-down"
title = "The team's copy of service-down"
section = "Service Down (SEV-1)"
severity = 1
fault = { kind = "service-killed", service = "testgen" }
"""


def gameday(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def team_runbook(tmp_path: Path, scenarios: str = SERVICE_DOWN_COPY) -> Path:
    """A copy of the fixed runbook with its own scenario file beside it."""
    runbook = tmp_path / "team.md"
    shutil.copy(FIXED, runbook)
    (tmp_path / "team.scenarios.toml").write_text(scenarios)
    return runbook


# -- the built-in catalog ------------------------------------------------------------------------


def test_builtin_catalog_is_the_data_file():
    assert catalog.BUILTIN.name == "scenarios.toml"
    ids = list(catalog.SCENARIOS)
    assert ids[0] == "service-down" and len(ids) == len(set(ids)) == 13
    assert {"llm-quota-all-hosted", "database-link-cut-never-lifted"} <= set(ids)
    for s in catalog.SCENARIOS.values():
        assert s.origin.startswith("harness/suite/scenarios.toml:"), s.origin
        assert s.faults and s.fault() is not s.fault()  # a fresh injector per run
    assert catalog.get("service-down") is catalog.SCENARIOS["service-down"]
    with pytest.raises(KeyError, match="unknown scenario 'nope'"):
        catalog.get("nope")


def test_builtin_scenarios_keep_their_meaning():
    down = catalog.get("service-down").fault()
    assert isinstance(down, ServiceKilled) and down.service == "testgen"
    perf = catalog.get("performance").fault()
    assert isinstance(perf, Toxics) and catalog.get("performance").lift == "after-detection"
    assert [(f.link, f.attributes) for f in perf.faults] == [
        ("postgres", {"latency": 300}), ("llm", {"latency": 1500}),
    ]  # fmt: skip
    # the deployment sets no memory limit: the scenario sets one, through the chaos layer
    assert catalog.get("high-memory-oom").stack_env == {
        "TESTGEN_CHAOS_HOOKS": "1",
        "TESTGEN_MEM_LIMIT": "256m",
    }
    assert catalog.get("high-memory-oom").verify_window_s == 20.0
    assert catalog.get("llm-quota").detect_window_s == 10.0
    assert catalog.get("wont-start-missing-variable").steps_from == ("Detection and Alert",)
    redis = catalog.get("redis-down")
    assert redis.severity == 3 and redis.expected == "recovered"
    cut = catalog.get("database-link-cut").fault()
    assert isinstance(cut, LinkToxic) and cut.toxic == "cut"
    assert catalog.get("database-link-cut").lift == "after-resolution"


def test_the_two_variants():
    never = catalog.get("database-link-cut-never-lifted")
    assert never.lift == "never" and never.faults == catalog.get("database-link-cut").faults
    hosted = catalog.get("llm-quota-all-hosted").fault()
    assert isinstance(hosted, LlmProviderFault)
    assert (hosted.provider, hosted.also) == ("openai", ("anthropic",))
    assert hosted.mode == "quota_exceeded"
    assert hosted.description.startswith("The openai and anthropic LLM APIs ")


# -- a runbook's own scenario file ---------------------------------------------------------------


def test_a_runbooks_file_adds_and_overrides(tmp_path):
    override = SERVICE_DOWN_COPY + """
[[scenario]]
id = "redis-down"
title = "Redis killed, and the team expects its fixed runbook to answer"
section = "Service Down (SEV-1)"
fault = { kind = "service-killed", service = "redis" }
verify_window_s = 12
"""
    runbook = team_runbook(tmp_path, override)
    mine = catalog.for_runbook(runbook)
    assert list(mine)[-1] == "team-service-down" and mine["team-service-down"].severity == 1
    assert mine["redis-down"].verify_window_s == 12.0 and mine["redis-down"].severity is None
    assert mine["redis-down"].origin == f"{tmp_path / 'team.scenarios.toml'}:9"
    assert "team-service-down" not in catalog.for_runbook(FIXED)  # other runbooks unchanged
    assert catalog.SCENARIOS["redis-down"].verify_window_s == 10.0


BAD = [
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\nfault = { kind = "meteor" }\n',
     4, "unknown fault kind 'meteor'; known: cache-bloat"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\n'
     'fault = { kind = "service-killed", servce = "testgen" }\n',
     4, "fault 'service-killed' has no parameter 'servce' (did you mean 'service'?); it takes: "
     "service"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\n'
     'fault = { kind = "cache-bloat", payload_mb = "48" }\n',
     4, "payload_mb must be an integer, not '48'"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\n'
     'fault = { kind = "llm-provider", mode = "on-fire" }\n',
     4, "mode must be one of quota_exceeded, rate_limited"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\n'
     'fault = { kind = "network", link = "postgres", toxic = "latency", latency = 1.5 }\n',
     4, "latency must be an integer, not 1.5"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\nfault = { kind = "network" }\n',
     4, "fault 'network' (latency toxic) needs link, latency"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\n'
     'fault = [{ kind = "service-killed" }, { kind = "service-killed", service = "redis" }]\n',
     4, "several faults at once are network faults only"),
    ('id = "x"\ntitle = "t"\nsection = "Service Down"\nfault = { kind = "service-killed" }\n'
     'sev = 1\n', 5, "unknown field 'sev'; known: id, title"),
    ('title = "t"\nsection = "Service Down"\nfault = { kind = "service-killed" }\n',
     0, "a scenario needs an id"),
    ('id = "Service Down!"\ntitle = "t"\nsection = "S"\nfault = { kind = "service-killed" }\n',
     1, "must be lower-case words joined by '-'"),
    ('id = "x"\ntitle = "t"\nfault = { kind = "service-killed" }\n', 0, "'x' needs section"),
    ('id = "x"\ntitle = "t"\nsection = "S"\nfault = { kind = "service-killed" }\n'
     'lift = "sometimes"\n', 5, "lift must be one of never, after-detection, after-resolution"),
    ('id = "x"\ntitle = "t"\nsection = "S"\nfault = { kind = "service-killed" }\nseverity = 7\n',
     5, "severity must be 1, 2, 3 or 4"),
    ('id = "x"\ntitle = "t"\nsection = "S"\nfault = { kind = "service-killed" }\n'
     'verify_window_s = 0\n', 5, "verify_window_s must be above 0"),
    ('id = "x"\ntitle = "t"\nsection = "S"\nfault = { kind = "service-killed" }\n'
     'stack_env = { "NOT A NAME" = "1" }\n', 5, "stack_env must map variable names to strings"),
    ('id = "x"\ntitle = "t"\nsection = "S"\nfault = { kind = "service-killed" }\n'
     'expected = "fine"\n', 5, "expected must be a verdict"),
    ('id = "x"\ntitle = "t"\nsection = "S"\nfault = "service-killed"\n',
     4, "fault must be a table"),
    ('id = "x"\ntitle = = "t"\n', 2, "not TOML: Invalid value (column 9)"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "line", "words"), BAD, ids=[w for _, _, w in BAD])
def test_a_bad_scenario_file_is_one_line_naming_file_and_line(tmp_path, body, line, words):
    path = tmp_path / "bad.scenarios.toml"
    path.write_text("# a team's scenarios\n[[scenario]]\n" + body)
    with pytest.raises(ScenarioError) as caught:
        catalog.load_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line + 2}: "), message  # body starts at line 3
    assert words in message and "\n" not in message, message


def test_duplicate_ids_and_unknown_tables(tmp_path):
    path = tmp_path / "dup.scenarios.toml"
    path.write_text(SERVICE_DOWN_COPY + SERVICE_DOWN_COPY)
    with pytest.raises(ScenarioError, match=r"dup.scenarios.toml:10: scenario 'team-service-down' "
                       r"declared twice \(first at .*:2\)"):
        catalog.load_file(path)
    path.write_text("[[scenarios]]\nid = 'x'\n")
    with pytest.raises(ScenarioError, match="unknown top-level key 'scenarios'"):
        catalog.load_file(path)


def test_a_section_the_runbook_lacks_is_named_before_anything_runs(tmp_path):
    runbook = team_runbook(tmp_path, SERVICE_DOWN_COPY.replace("Service Down (SEV-1)", "Meteor"))
    scenario = catalog.for_runbook(runbook)["team-service-down"]
    with pytest.raises(ScenarioError, match=r"scenario team-service-down \(declared at .*"
                       r"team.scenarios.toml:2\): no single runbook section matches 'Meteor'"):
        catalog.check_sections(parse_runbook(runbook), [scenario])


# -- through the CLI: list, run --dry-run, lint --coverage, exit status 2 -----------------------


def test_gameday_list_shows_builtin_and_a_runbooks_scenarios(tmp_path):
    runbook = team_runbook(tmp_path)
    proc = gameday("list", "--runbook", str(runbook))
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:5] == ["id", "section", "SEV", "fault", "lift"]
    assert len(rows) == 14
    redis = next(r for r in rows if r.startswith("redis-down "))
    assert "SEV-3" in redis and "service-killed(service='redis')" in redis and "never" in redis
    assert rows[-1].startswith("team-service-down ") and "team.scenarios.toml:2" in rows[-1]
    data = json.loads(gameday("list", "--json").stdout)
    assert data[0]["fault"] == [{"kind": "service-killed", "service": "testgen"}]


def test_dry_run_says_what_would_run_and_starts_nothing(tmp_path):
    runbook = team_runbook(tmp_path)
    out = tmp_path / "out"
    proc = gameday(
        "run", "--dry-run", "--runbook", str(runbook), "--scenario", "team-service-down",
        "--scenario", "redis-down", "--backend", "local", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "nothing started" in proc.stdout and "backend: local (chosen)" in proc.stdout
    assert f"runbook {runbook}: 2 gameday(s)" in proc.stdout
    lines = proc.stdout.splitlines()
    team = next(line for line in lines if line.startswith("team-service-down"))
    assert "Service Down (SEV-1)" in team and "recovered (the scenario's expected" in team
    assert "2 gameday(s) would run" in proc.stdout
    assert not out.exists()  # not even the output directory


@pytest.mark.parametrize(
    ("scenarios", "argv", "words"),
    [
        (SERVICE_DOWN_COPY.replace('"testgen"', "8000"), ("list",),
         "team.scenarios.toml:7: fault 'service-killed': service must be a string, not 8000"),
        (SERVICE_DOWN_COPY.replace("Service Down (SEV-1)", "Meteor Strike"), ("run",),
         "scenario team-service-down (declared at"),
        (SERVICE_DOWN_COPY, ("run", "--scenario", "team-servce-down"),
         "unknown scenario 'team-servce-down'"),
        (SERVICE_DOWN_COPY.replace("kind =", "knd ="), ("run", "--dry-run"),
         'team.scenarios.toml:7: fault needs kind = "<fault name>"'),
    ],
    ids=["list-bad-parameter", "run-section-not-in-runbook", "run-unknown-id", "dry-run-no-kind"],
)  # fmt: skip
def test_bad_scenario_input_through_the_cli_is_one_line_exit_2(tmp_path, scenarios, argv, words):
    runbook = team_runbook(tmp_path, scenarios)
    out = tmp_path / "out"
    proc = gameday(*argv, "--runbook", str(runbook), *(["--out", str(out)] if argv[0] == "run"
                                                       else []))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert words in proc.stderr, proc.stderr
    assert not out.exists()


def test_coverage_table_shows_redis_unanswered_by_the_shipped_runbook():
    proc = gameday("lint", "--coverage", str(REPO / "runbooks" / "incident-response.md"))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("|")[1].strip(): line for line in proc.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| service")}
    assert set(rows) == {"postgres", "redis", "llm", "ollama", "toxiproxy", "testgen"}
    cells = [c.strip() for c in rows["redis"].split("|")[2:-1]]
    assert cells.count("**none**") == 1 and set(cells) == {"·", "**none**"}
    assert "Scenario 4" in rows["postgres"] and "Service Down (SEV-1)" in rows["testgen"]
    assert ("redis × service-killed: redis-down: no resolution step of 'Service Down (SEV-1)' "
            "(line 63) acts on redis") in proc.stdout
    assert "no section answers any fault of: redis" in proc.stdout
    fixed = gameday("lint", "--coverage", str(FIXED)).stdout  # `docker-compose up -d` answers
    assert "redis × service-killed" not in fixed and "any fault of: redis" not in fixed
