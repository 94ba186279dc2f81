"""Helpers shared by the backend contract tests: which backends, and a stack of each.

The docker backend needs an engine and the locally built images. Without them its tests
are skipped, each with the reason, and the run's summary says in one line that the docker
backend was NOT tested: a skip is never a pass. Set GAMEDAY_REQUIRE_DOCKER=1 (as
scripts/ci-docker.sh does) to make a missing engine or image a failure instead.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from harness.backends import make_stack
from harness.backends.base import Stack
from harness.compose import ComposeFile
from harness.run.gameday import operator_environment

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.chaos.yml"
BACKENDS = [pytest.param("local", id="local"),
            pytest.param("docker", id="docker", marks=pytest.mark.docker)]
docker_skips: list[str] = []  # reasons, for the run's summary


@functools.lru_cache(maxsize=1)
def docker_problem() -> str | None:
    """Why the docker backend cannot run here, or None (asked once per test run)."""
    try:
        from harness.backends.docker import engine_problem
        from harness.backends.docker.engine import connect
        from harness.backends.docker.images import BUILD_HINT, local_image
    except ImportError as exc:
        return f"the docker backend does not import: {exc}"
    problem = engine_problem()
    if problem:
        return f"{problem}; start dockerd (scripts/ci-docker.sh installs and starts it)"
    client = connect()
    try:
        configs, _ = ComposeFile(COMPOSE).resolve(dict(os.environ))
        wanted = {c.image for c in configs.values()}
        missing = sorted(i for i in wanted if local_image(client, i) is None)
    finally:
        client.close()
    if missing:
        return f"images not built: {', '.join(missing)}; {BUILD_HINT}"
    return None


def require_backend(backend: str) -> None:
    if backend != "docker":
        return
    problem = docker_problem()
    if os.environ.get("GAMEDAY_BACKEND") == "local" and problem is None:
        problem = "GAMEDAY_BACKEND=local: a local-only run (scripts/ci-docker.sh runs docker)"
    if problem is None:
        return
    if os.environ.get("GAMEDAY_REQUIRE_DOCKER") == "1":
        pytest.fail(f"docker backend required (GAMEDAY_REQUIRE_DOCKER=1) but {problem}")
    if problem not in docker_skips:
        docker_skips.append(problem)
    pytest.skip(f"docker backend NOT TESTED: {problem}")


def new_stack(backend: str) -> Stack:
    require_backend(backend)
    # The operator's .env: the deployment's .env.example, then the chaos layer's.
    return make_stack(backend, ComposeFile(COMPOSE), operator_environment())
