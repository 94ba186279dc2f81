"""Reading a deployment dir: fences are findings, the inside is still read, lines are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.deployment import (
    DeploymentError,
    compose_text,
    image_reference,
    image_tools,
    load_deployment,
)
from harness.deployment.dockerfile import installed_packages, read_dockerfile
from harness.deployment.source import read_source

REPO = Path(__file__).resolve().parents[2]
HEAD = REPO / "deployments" / "testgen-head"
ERA = REPO / "deployments" / "testgen-runbook-era"
RENAMED = REPO / "deployments" / "renamed"


def test_a_fenced_file_is_a_problem_and_its_inside_is_still_read() -> None:
    deployment = load_deployment(HEAD)
    fenced = {Path(p.shown).name: p for p in deployment.problems}
    assert set(fenced) == {"docker-compose.yml", "Dockerfile", ".env.example"}
    assert fenced["docker-compose.yml"].line == 1
    assert "not valid YAML: line 1 is a Markdown fence" in fenced["docker-compose.yml"].message
    assert "redis" in deployment.services  # the inside was read
    assert deployment.service("redis").profiles == ("cache",)  # type: ignore[union-attr]


def test_line_numbers_are_those_of_the_file_on_disk() -> None:
    deployment = load_deployment(HEAD)
    raw = (HEAD / "docker-compose.yml").read_text().splitlines()
    redis = deployment.service("redis")
    assert redis is not None and redis.profiles_line is not None
    assert "profiles" in raw[redis.profiles_line - 1]
    net = deployment.main.networks[0]
    assert "172.20.0.0/16" in raw[net.subnets[0][1] - 1]


def test_runbook_era_files_parse() -> None:
    assert load_deployment(ERA).problems == []


def test_compose_text_has_no_fence_and_keeps_lines() -> None:
    text = compose_text(HEAD)
    raw = (HEAD / "docker-compose.yml").read_text()
    assert not text.lstrip().startswith("```")
    assert len(text.splitlines()) == len(raw.splitlines())


def test_image_tools_reads_the_stage_the_service_is_built_from() -> None:
    tools = image_tools(HEAD, "testgen")
    assert tools is not None and {"git", "curl"} <= tools
    assert "pg_isready" not in tools and "redis-cli" not in tools
    assert "pg_isready" in (image_tools(RENAMED, "api") or set())
    assert "pg_isready" in (image_tools(HEAD, "testgen-postgres") or set())  # by container
    assert image_tools(HEAD, "no-such-service") is None


def test_image_reference_names_the_image_compose_runs() -> None:
    head = load_deployment(HEAD)
    assert image_reference(head, head.services["testgen"]) == "testgen-copilot:latest"
    era = load_deployment(ERA)
    assert image_reference(era, era.services["testgen"]) == "testgen-runbook-era-testgen"


def test_bad_deployment_dirs_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="no such deployment directory"):
        load_deployment(tmp_path / "missing")
    with pytest.raises(DeploymentError, match="no compose file"):
        load_deployment(tmp_path)


def test_dockerfile_stages_inherit_entrypoint_and_packages(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "FROM python:3.12-slim AS base\n"
        "RUN apt-get update && apt-get install -y \\\n    postgresql-client curl\n"
        'ENTRYPOINT ["app"]\n'
        "FROM base AS web\n"
        'CMD ["serve"]\n'
    )
    df = read_dockerfile(read_source(path))
    web = df.stage("web")
    assert web is not None and web.entrypoint == ("app",) and web.cmd == ("serve",)
    assert {"pg_isready", "psql", "curl", "python"} <= web.tools
    assert web.installs_line("pg_isready") == 2
    assert df.stage("production") is None
    assert installed_packages("apk add --no-cache redis && pip install psutil==5.9") == [
        "redis",
        "psutil",
    ]


def test_an_override_file_changes_only_what_it_sets(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: acme/app:1\n    container_name: app\n"
        "    ports: ['8000:8000']\n    environment:\n      A: '1'\n"
    )
    (tmp_path / "docker-compose.override.yml").write_text(
        "services:\n  app:\n    ports: ['9000:9000']\n    environment:\n      B: '2'\n"
    )
    app = load_deployment(tmp_path).services["app"]
    assert app.image == "acme/app:1" and app.container_name == "app"
    assert [p.host for p in app.ports] == [8000, 9000]
    assert set(app.environment) == {"A", "B"}
