"""The drift report on the TestGen fixtures: the issue's "Done when" list for `head`, each
finding with both locations (the runbook line and the deployment file and line), the
renamed deployment's failures by name and port, and the runbook era."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from harness.deployment.drift import drift_report
from harness.deployment.report import (
    BLOCKS_UP,
    FAILS,
    NEVER_DETECTS,
    SILENT_NO_OP,
    DriftReport,
    Finding,
)

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "runbooks" / "incident-response.md"
HEAD = REPO / "deployments" / "testgen-head"
ERA = REPO / "deployments" / "testgen-runbook-era"
RENAMED = REPO / "deployments" / "renamed"


@functools.cache
def report(deployment: Path) -> DriftReport:
    return drift_report(deployment, [RUNBOOK])


def runbook_line(text: str) -> int:
    """The runbook line holding `text` (the fixture's numbers are found, not hard-coded)."""
    for number, line in enumerate(RUNBOOK.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in the runbook")


def file_line(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def find(
    deployment: Path, rule: str, step: str, file: str, text: str, effect: str | None = None
) -> Finding:
    """The finding of `rule` naming the runbook step holding `step` and `file`'s line
    holding `text`: both locations, or the assertion says what was found instead."""
    want_step = runbook_line(step)
    want_where = f"{deployment / file}:{file_line(deployment / file, text)}"
    found = [f for f in report(deployment).findings if f.rule == rule]
    for f in found:
        if want_step in {s.line for s in f.runbook} and want_where in {
            d.where for d in f.deployment
        }:
            assert effect is None or f.effect == effect, f.message
            return f
    summary = [
        (f.effect, [s.line for s in f.runbook], [d.where for d in f.deployment]) for f in found
    ]
    raise AssertionError(f"no {rule} at line {want_step} and {want_where}: {summary}")


# -- head: the list -------------------------------------------------------------


def test_head_no_server_on_8000() -> None:
    f = find(
        HEAD,
        "no-server-on-port",
        "curl -f http://localhost:8000/health",
        "docker-compose.yml",
        '"8000:8000"',
        FAILS,
    )
    assert "testgen-copilot-dev" in f.message and "bash" in f.message


@pytest.mark.parametrize("file", ["docker-compose.yml", "Dockerfile", ".env.example"])
def test_head_unparseable_files_are_named_at_their_fence(file: str) -> None:
    step = {
        "docker-compose.yml": "docker-compose restart testgen",
        "Dockerfile": "docker-compose up -d",
        ".env.example": "cp .env.example .env",
    }[file]
    f = find(HEAD, "unparseable-file", step, file, "```")
    assert "line 1 is a Markdown fence" in f.message


def test_head_compose_fence_is_not_valid_yaml_and_fails_every_compose_step() -> None:
    f = find(
        HEAD, "unparseable-file", "docker-compose ps postgres", "docker-compose.yml", "```yaml"
    )
    assert f.message.endswith("no `docker-compose` command can load the project")
    assert "not valid YAML: line 1 is a Markdown fence" in f.message and f.effect == FAILS


@pytest.mark.parametrize(
    ("service", "profile", "step"),
    [
        ("redis", "cache", "redis-cli FLUSHALL"),
        ("postgres", "database", "docker-compose ps postgres"),
    ],
)
def test_head_profiles_keep_redis_and_postgres_out_of_up(
    service: str, profile: str, step: str
) -> None:
    f = find(
        HEAD,
        "profile-excludes",
        "docker-compose up -d",
        "docker-compose.yml",
        f'profiles: ["{profile}"]',
        SILENT_NO_OP,
    )
    assert f"`{service}`" in f.message
    assert runbook_line(step) in {s.line for s in f.runbook}


def test_head_noauth_flushall_is_a_silent_no_op() -> None:
    f = find(
        HEAD,
        "redis-noauth",
        "redis-cli FLUSHALL",
        "docker-compose.yml",
        "--requirepass",
        SILENT_NO_OP,
    )
    assert "NOAUTH Authentication required." in f.message and "exits 0" in f.message


def test_head_no_pg_isready_in_the_app_image() -> None:
    f = find(
        HEAD,
        "exec-tool-missing",
        "docker exec testgen-copilot pg_isready",
        "Dockerfile",
        "apt-get update",
        FAILS,
    )
    assert "`pg_isready`" in f.message and "curl, git" in f.message


@pytest.mark.parametrize("variable", ["PRIMARY_LLM_PROVIDER", "LLM_RATE_LIMIT"])
def test_head_llm_exports_are_never_interpolated(variable: str) -> None:
    f = find(
        HEAD,
        "export-not-interpolated",
        f"export {variable}=",
        "docker-compose.yml",
        "LOCAL_LLM_ENABLED=",
        SILENT_NO_OP,
    )
    assert f"`{variable}` is interpolated nowhere" in f.message


def test_head_local_llm_export_is_not_applied_by_up_ollama() -> None:
    f = find(
        HEAD,
        "export-not-applied",
        "export LOCAL_LLM_ENABLED=true",
        "docker-compose.yml",
        "LOCAL_LLM_ENABLED=",
        SILENT_NO_OP,
    )
    assert runbook_line("docker-compose up -d ollama") in {s.line for s in f.runbook}


def test_head_no_mount_for_var_log_testgen() -> None:
    f = find(
        HEAD,
        "host-file-not-mounted",
        "tail -100 /var/log/testgen/app.log",
        "docker-compose.yml",
        "testgen-cache:/app/.cache",
        NEVER_DETECTS,
    )
    assert "/var/log/testgen" in f.message


@pytest.mark.parametrize(
    ("rule", "step", "file", "text"),
    [
        ("make-target-missing", "make health-check", "Makefile", "install:"),
        (
            "systemd-unit-missing",
            "systemctl status testgen-copilot",
            "docker-compose.yml",
            "container_name: testgen-copilot",
        ),
        ("kubernetes-missing", "kubectl get pods -n testgen", "docker-compose.yml", "services:"),
    ],
)
def test_head_host_targets_that_do_not_exist(rule: str, step: str, file: str, text: str) -> None:
    find(HEAD, rule, step, file, text, FAILS)


def test_head_ollama_gpu_and_pull_policy_block_up() -> None:
    find(
        HEAD,
        "gpu-reservation",
        "docker-compose up -d ollama",
        "docker-compose.yml",
        "devices:",
        BLOCKS_UP,
    )
    find(
        HEAD,
        "pull-policy-always",
        "docker-compose up -d ollama",
        "docker-compose.yml",
        "pull_policy: always",
        BLOCKS_UP,
    )


def test_head_fixed_subnet_and_name() -> None:
    find(HEAD, "fixed-subnet", "docker-compose up -d", "docker-compose.yml", "172.20.0.0/16")
    find(
        HEAD,
        "fixed-network-name",
        "docker-compose up -d",
        "docker-compose.yml",
        "name: testgen-network",
    )


def test_head_build_target_the_dockerfile_lacks() -> None:
    f = find(
        HEAD,
        "build-target-missing",
        "docker-compose up -d",
        "docker-compose.yml",
        "target: production",
        BLOCKS_UP,
    )
    assert "development" in f.message


def test_head_findings_name_the_scenarios_they_change() -> None:
    f = find(HEAD, "redis-noauth", "redis-cli FLUSHALL", "docker-compose.yml", "--requirepass")
    assert "high-memory-oom" in f.scenarios
    f = find(HEAD, "exec-tool-missing", "pg_isready -h postgres", "Dockerfile", "apt-get update")
    assert "database-down" in f.scenarios


def test_head_drifts() -> None:
    assert report(HEAD).exit_status == 1


# -- the runbook era --------------------------------------------------------------------


def test_runbook_era_parses_has_no_profiles_and_no_server_on_8000() -> None:
    rules = {f.rule for f in report(ERA).findings}
    assert "unparseable-file" not in rules and "profile-excludes" not in rules
    f = find(
        ERA,
        "no-server-on-port",
        "curl -f http://localhost:8000/health",
        "docker-compose.yml",
        '"8000:8000"',
        FAILS,
    )
    assert "future API server" in " ".join(d.text for d in f.deployment)
    find(ERA, "redis-noauth", "redis-cli FLUSHALL", "docker-compose.yml", "--requirepass")


# -- another team's deployment: renamed services, containers and ports ------------------


@pytest.mark.parametrize(
    ("rule", "step", "text", "renamed_to"),
    [
        ("unknown-service", "docker-compose restart testgen", "container_name: acme-api", "`api`"),
        (
            "unknown-container",
            "docker logs testgen-copilot --tail 50",
            "container_name: acme-api",
            "acme-api",
        ),
        (
            "unknown-service",
            "docker-compose up -d ollama",
            "container_name: acme-local-llm",
            "`local-llm`",
        ),
        ("unknown-service", "docker-compose ps postgres", "container_name: acme-db", "`db`"),
        ("unknown-container", "docker logs testgen-postgres", "container_name: acme-db", "acme-db"),
        ("port-not-published", "curl -f http://localhost:8000/health", '"9000:9000"', "9000"),
        ("port-not-published", "redis-cli FLUSHALL", '"6380:6379"', "6380"),
        ("unknown-network-host", "pg_isready -h postgres", "  db:", "`db`"),
        (
            "unknown-image",
            "docker run --rm testgen-copilot:latest",
            "image: acme/testgen-api",
            "acme/testgen-api",
        ),
    ],
)
def test_renamed_steps_fail_for_names_and_ports(
    rule: str, step: str, text: str, renamed_to: str
) -> None:
    f = find(RENAMED, rule, step, "docker-compose.yml", text, FAILS)
    assert renamed_to in f.message


def test_renamed_has_a_server_so_no_serving_findings() -> None:
    rules = {f.rule for f in report(RENAMED).findings}
    assert "no-server-on-port" not in rules and "redis-noauth" not in rules
    assert "make-target-missing" not in rules  # its Makefile has health-check
