"""The stack's model: the team's deployment with the chaos layer applied as a Compose
override. No stack is started: these check what both backends are given (they build every
container from `ComposeFile.resolve()`), and the pure helpers that read it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.compose import ComposeFile, StandIn
from harness.compose_merge import load_yaml, merge_service
from harness.errors import ComposeError, StackError
from harness.result import StepRun, StepStatus
from harness.standins import NOAUTH, silent_no_ops, unchecked_lines

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "docker-compose.chaos.yml"
RUNBOOK_ERA = ROOT / "deployments" / "testgen-runbook-era"
HEAD = ROOT / "deployments" / "testgen-head"
MiB = 2**20


def _yaml(text: str) -> dict:
    return load_yaml(textwrap.dedent(text), "<test>")


# -- Compose's merge rules, one row each ----------------------------------------------------

MERGE_CASES = [
    # (rule, base service, override, expected merged service)
    ("scalars: the override wins",
     "image: a:1\nrestart: 'no'", "image: b:2", {"image": "b:2", "restart": "no"}),
    ("command is replaced whole, never appended",
     "command: redis-server --appendonly yes", "command: [python, -m, x]",
     {"command": ["python", "-m", "x"]}),
    ("entrypoint is replaced whole", "entrypoint: [a, b]", "entrypoint: [c]",
     {"entrypoint": ["c"]}),
    ("environment merges by variable, list form and mapping form alike",
     "environment: [A=1, B=2]", "environment: {B: '3', C: '4'}",
     {"environment": {"A": "1", "B": "3", "C": "4"}}),
    ("a bare list variable is kept as a pass-through",
     "environment: [OPENAI_API_KEY]", "environment: {X: '1'}",
     {"environment": {"OPENAI_API_KEY": None, "X": "1"}}),
    ("ports merge by container port",
     "ports: ['8000:8000', '6379:6379']", "ports: ['9000:8000']",
     {"ports": ["9000:8000", "6379:6379"]}),
    ("volumes merge by target path",
     "volumes: ['.:/workspace', 'data:/data']", "volumes: ['./logs:/workspace']",
     {"volumes": ["./logs:/workspace", "data:/data"]}),
    ("depends_on merges by service (list form stays a list)",
     "depends_on: [redis, postgres]", "depends_on: [llm, redis]",
     {"depends_on": ["redis", "postgres", "llm"]}),
    ("depends_on in mapping form merges as a mapping",
     "depends_on: {redis: {condition: service_healthy}}", "depends_on: [llm]",
     {"depends_on": {"redis": {"condition": "service_healthy"},
                     "llm": {"condition": "service_started"}}}),
    ("mappings merge recursively",
     "deploy: {resources: {limits: {memory: 1g}, reservations: {cpus: '1'}}}",
     "deploy: {resources: {limits: {memory: 2g}}}",
     {"deploy": {"resources": {"limits": {"memory": "2g"}, "reservations": {"cpus": "1"}}}}),
    ("healthcheck merges by key; its test is replaced",
     "healthcheck: {test: [CMD, redis-cli, ping], interval: 10s}",
     "healthcheck: {interval: 1s}",
     {"healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "1s"}}),
    ("other sequences append without duplicates",
     "profiles: [cache]", "profiles: [cache, extra]", {"profiles": ["cache", "extra"]}),
    ("!reset removes what the deployment declares",
     "pull_policy: always\nimage: x", "pull_policy: !reset null", {"image": "x"}),
    ("!override replaces a sequence without merging it",
     "volumes: ['.:/workspace']", "volumes: !override ['./logs:/var/log/testgen']",
     {"volumes": ["./logs:/var/log/testgen"]}),
]


@pytest.mark.parametrize(("rule", "base", "override", "expected"), MERGE_CASES,
                         ids=[c[0] for c in MERGE_CASES])
def test_compose_merge_rule(rule: str, base: str, override: str, expected: dict) -> None:
    merged = merge_service(_yaml(base), _yaml(override))
    for key, value in expected.items():
        assert merged[key] == value, rule
    assert set(merged) == set(_yaml(base)) - {"pull_policy"} | set(expected), rule


# -- the default stack: runbook-era deployment + chaos layer ----------------------------------


@pytest.fixture(scope="module")
def model() -> ComposeFile:
    return ComposeFile(LAYER)


def test_the_default_stack_is_the_runbook_era_deployment_under_the_layer(model) -> None:
    assert model.deployment_dir == RUNBOOK_ERA
    configs, _ = model.resolve({})
    assert configs["redis"].container_name == "testgen-redis"
    assert configs["postgres"].image == "postgres:15-alpine"  # the deployment's, not ours
    assert configs["redis"].requirepass == "testgen123"  # ${REDIS_PASSWORD:-testgen123}
    assert configs["redis"].command[:3] == ("redis-server", "--appendonly", "yes")
    assert configs["postgres"].env["POSTGRES_PASSWORD"] == "testgen123"
    assert all(c.restart == "unless-stopped" for c in configs.values())


def test_the_deployments_interpolation_takes_the_operators_shell_and_dotenv(model) -> None:
    configs, _ = model.resolve({"REDIS_PASSWORD": "from-shell"}, {"POSTGRES_PASSWORD": "env"})
    assert configs["redis"].requirepass == "from-shell"
    assert configs["postgres"].env["POSTGRES_PASSWORD"] == "env"
    # The stand-in API connects as the deployment's clients must: with those credentials.
    api = configs["testgen"].env
    assert api["TESTGEN_REDIS_URL"] == "redis://:from-shell@toxiproxy:16379/0"
    assert api["TESTGEN_DATABASE_URL"] == "postgresql://testgen:env@toxiproxy:15432/testgen"


def test_a_healthcheck_is_interpolated_and_dollar_dollar_reaches_the_shell_as_one(model) -> None:
    configs, _ = model.resolve({"POSTGRES_USER": "from-the-operators-shell"})
    test = configs["postgres"].healthcheck.test
    assert test[0] == "CMD-SHELL"
    # The container's shell expands it against the container's environment, as with Compose.
    assert '-U "$POSTGRES_USER"' in test[1] and "$$" not in test[1], test


def test_the_stand_in_api_gets_only_what_the_deployment_passes(model) -> None:
    env = model.resolve({"PRIMARY_LLM_PROVIDER": "anthropic", "LLM_RATE_LIMIT": "10",
                         "LOCAL_LLM_ENABLED": "true"})[0]["testgen"].env
    assert "PRIMARY_LLM_PROVIDER" not in env and "LLM_RATE_LIMIT" not in env
    assert env["LOCAL_LLM_ENABLED"] == "true"  # the deployment interpolates this one


def test_no_memory_limit_unless_a_scenario_sets_one_and_the_notes_say_so(model) -> None:
    plain, _ = model.resolve({})
    assert all(c.mem_limit_bytes is None for c in plain.values())
    assert model.layer_notes(plain) == []
    limited, _ = model.resolve({"TESTGEN_MEM_LIMIT": "256m"})
    assert limited["testgen"].mem_limit_bytes == 256 * MiB
    (note,) = model.layer_notes(limited)
    assert "256 MiB set by the scenario (TESTGEN_MEM_LIMIT=256m" in note
    assert "testgen-runbook-era/docker-compose.yml) sets none" in note


def test_the_gpu_ollama_is_replaced_without_its_gpu_and_pull_policy(model) -> None:
    ollama = model.services()["ollama"]
    assert "deploy" not in ollama and "pull_policy" not in ollama
    assert model.deployment_spec("ollama")["pull_policy"] == "always"  # kept for the record
    assert model.resolve({})[0]["ollama"].container_name == "testgen-ollama"


def test_every_stand_in_is_listed_with_its_reason(model) -> None:
    stand_ins = {s.name: s for s in model.stand_ins()}
    assert set(stand_ins) == {
        "TestGen HTTP API on :8000",
        "testgen-ollama (mock, no GPU)",
        "OpenAI and Anthropic APIs (mock)",
        "/var/log/testgen/app.log",
    }
    assert all(s.reason for s in stand_ins.values())
    assert "serves nothing" in stand_ins["TestGen HTTP API on :8000"].reason
    assert stand_ins["TestGen HTTP API on :8000"].serves == ("localhost:8000",)
    assert "GPU" in stand_ins["testgen-ollama (mock, no GPU)"].reason


def test_the_deployment_line_names_file_and_line(model) -> None:
    where = model.deployment_line("--requirepass")
    assert where is not None and where.endswith("testgen-runbook-era/docker-compose.yml:34")
    lines = (RUNBOOK_ERA / "docker-compose.yml").read_text().splitlines()
    assert "--requirepass" in lines[33]


def test_the_operators_dotenv_starts_as_the_deployments_then_the_layers(model) -> None:
    assert model.env_examples() == [RUNBOOK_ERA / ".env.example", ROOT / ".env.example"]


# -- other deployments under the same layer -------------------------------------------------


def test_profiles_of_the_deployment_keep_services_out_of_a_plain_up() -> None:
    head = ComposeFile(LAYER, deployment=HEAD)  # its fenced file, read as a person would
    configs, _ = head.resolve({})
    assert configs["redis"].profiles == ("cache",)
    assert configs["postgres"].profiles == ("database",)
    # A plain `up -d` leaves both out, and Compose refuses a default service that depends
    # on one of them (testgen-dev on redis) as an invalid project.
    with pytest.raises(StackError, match='"testgen-dev" depends on undefined service "redis"'):
        head.startup_order()
    assert "redis" in head.startup_order(["testgen-dev"])  # named: its dependencies come too


def test_the_assumed_deployment_keeps_the_model_the_runbook_assumes() -> None:
    assumed = ComposeFile(LAYER, deployment=ROOT / "deployments" / "assumed")
    configs, _ = assumed.resolve({"LLM_RATE_LIMIT": "10", "PRIMARY_LLM_PROVIDER": "anthropic"})
    api = configs["testgen"].env
    assert (api["LLM_RATE_LIMIT"], api["PRIMARY_LLM_PROVIDER"]) == ("10", "anthropic")
    assert configs["redis"].requirepass is None
    assert api["TESTGEN_REDIS_URL"] == "redis://:@toxiproxy:16379/0"  # no password
    assert configs["testgen"].mem_limit_bytes == 256 * MiB  # its own limit
    assert configs["ollama"].profiles == ("fallback",)
    names = {s.name for s in assumed.stand_ins()}
    assert "TestGen HTTP API on :8000" not in names  # the deployment runs the API itself
    assert "/var/log/testgen/app.log" not in names  # and mounts its log directory


def test_a_layer_overriding_a_service_the_deployment_lacks_is_bad_input(tmp_path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services:\n  api:\n    image: x\n")
    with pytest.raises(ComposeError, match="overrides service 'postgres', which the deployment"):
        ComposeFile(LAYER, deployment=tmp_path)


def test_a_missing_deployment_dir_is_bad_input(tmp_path) -> None:
    with pytest.raises(ComposeError, match="no such deployment directory"):
        ComposeFile(LAYER, deployment=tmp_path / "nope")


# -- what rests on a stand-in, and silent no-ops ---------------------------------------------

API = StandIn("TestGen HTTP API on :8000", "serves nothing", "testgen", ("localhost:8000",))
LOG = StandIn("/var/log/testgen/app.log", "logs to stdout")


def test_a_verdict_resting_on_the_stand_in_says_so_in_unchecked() -> None:
    lines = unchecked_lines([LOG, API], 'grep -q llm_error /var/log/testgen/app.log', "recovered")
    assert lines == [
        "detected by `grep -q llm_error /var/log/testgen/app.log` in a log that only the "
        "stand-in writes; the deployment logs to stdout (/var/log/testgen/app.log is the "
        "stand-in's)",
        "recovered per the stand-in API's /health, /ready and /v1/generate (TestGen HTTP API "
        "on :8000); the deployment runs no HTTP server",
    ]


def test_detection_through_the_stand_in_api_port_is_named() -> None:
    (line, judged) = unchecked_lines([API], "curl -f http://localhost:8000/ready", "slow")
    assert line.startswith("detected by `curl -f http://localhost:8000/ready` against the stand")
    assert judged.startswith("slow: judged by the stand-in API's")


def test_nothing_rests_on_a_stand_in_the_steps_never_reached() -> None:
    assert unchecked_lines([API, LOG], "docker ps | grep testgen", None) == []
    assert unchecked_lines([], "curl -f http://localhost:8000/ready", "recovered") == []


def _run(line: int, command: str, stdout: str, exit_code: int) -> StepRun:
    return StepRun("resolve", "Scenario 2", "", command, line, "resolution",
                   StepStatus.OK if exit_code == 0 else StepStatus.FAILED,
                   exit_code, stdout)


def test_a_noauth_answer_with_exit_0_is_named_as_a_silent_no_op() -> None:
    runs = [_run(221, "docker-compose restart testgen", "", 0),
            _run(224, "redis-cli FLUSHALL", NOAUTH + "\n", 0),
            _run(230, 'redis-cli -a "$REDIS_PASSWORD" FLUSHALL', "OK\n", 0)]
    (line,) = silent_no_ops(runs, "deployments/testgen-runbook-era/docker-compose.yml:34")
    assert line == (
        "step line 224 `redis-cli FLUSHALL` answered `NOAUTH Authentication required.` and "
        "exited 0: it changed nothing, the deployment's Redis requires a password "
        "(deployments/testgen-runbook-era/docker-compose.yml:34 `--requirepass`)"
    )


def test_a_resolution_acting_on_a_stand_in_service_is_named() -> None:
    ollama = StandIn("testgen-ollama (mock, no GPU)",
                     "the deployment's ollama reserves an NVIDIA GPU; a mock runs", "ollama")
    steps = ["export LOCAL_LLM_ENABLED=true", "docker-compose up -d ollama testgen"]
    (line,) = unchecked_lines([ollama], None, None, steps)
    assert line == ("resolved with `docker-compose up -d ollama testgen` on the stand-in "
                    "testgen-ollama (mock, no GPU): the deployment's ollama reserves an NVIDIA GPU")
    assert unchecked_lines([ollama], None, None, ["docker-compose restart testgen-ollama2"]) == []


def test_detection_in_the_stand_ins_container_is_named() -> None:
    api = StandIn("TestGen HTTP API on :8000", "serves nothing", "testgen",
                  ("localhost:8000",), "testgen-copilot")
    (line,) = unchecked_lines([api], 'docker logs testgen-copilot | grep "database"', None)
    assert line == ('detected by `docker logs testgen-copilot | grep "database"` in the container '
                    "of the stand-in TestGen HTTP API on :8000 (its output, its process); what "
                    "the deployment's testgen-copilot shows there is not checked")
    assert unchecked_lines([api], "docker logs testgen-copilot-dev", None) == []


def test_every_result_lists_the_stand_ins_in_its_notes(tmp_path) -> None:
    from harness.backends.fake.stack import FakeStack

    stack = FakeStack(ComposeFile(LAYER))
    try:
        notes = [n for n in stack.info.notes if n.startswith("stand-in: ")]
        assert len(notes) == 4
        assert any(n.startswith("stand-in: TestGen HTTP API on :8000: the runbook calls")
                   for n in notes)
    finally:
        stack.close()
