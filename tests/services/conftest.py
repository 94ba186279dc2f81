"""Fixtures for the service tests (helpers in servicekit.py): real PostgreSQL and Redis,
the mock LLM and TestGen as subprocesses on free 127.0.0.1 ports, all killed at teardown.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    PG_PASSWORD,
    SECRET_KEY,
    Postgres,
    Redis,
    Service,
    TestGen,
    free_port,
    service_env,
)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if not shutil.which("postgres") or not shutil.which("initdb"):
        pytest.skip("PostgreSQL binaries (initdb, postgres) are not on PATH")
    root = Path(tempfile.mkdtemp(prefix="tg-pg-"))
    pg = Postgres(root)
    try:
        pg.init()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    root = Path(tempfile.mkdtemp(prefix="tg-redis-"))
    server = Redis(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mockllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    port = free_port()
    svc = Service(["-m", "harness.services.mockllm", "--host", "127.0.0.1", "--port",
                   str(port)], service_env(), port,
                  tmp_path_factory.mktemp("mockllm") / "out.log")
    try:
        svc.wait_healthy("/_chaos/health")
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def llm(mockllm: Service) -> Iterator[Service]:
    """The session's mock LLM, reset before and after each test."""
    httpx.post(mockllm.base + "/_chaos/reset")
    try:
        yield mockllm
    finally:
        httpx.post(mockllm.base + "/_chaos/reset")


@pytest.fixture
def start_testgen(postgres: Postgres, redis_server: Redis, llm: Service,
                  tmp_path: Path) -> Iterator[Any]:
    """start_testgen(wait=True, unset=(names,), **env) → a TestGen process wired to the
    session's real PostgreSQL, Redis and mock LLM (killed at teardown)."""
    started: list[TestGen] = []

    def start(wait: bool = True, unset: tuple[str, ...] = (), **overrides: str) -> TestGen:
        port = free_port()
        n = len(started)
        log_file = tmp_path / f"logs{n}" / "app.log"
        env = service_env(
            TESTGEN_HOST="127.0.0.1",
            TESTGEN_PORT=str(port),
            TESTGEN_DATABASE_URL=postgres.url,
            TESTGEN_REDIS_URL=redis_server.fresh_url(),
            TESTGEN_SECRET_KEY=SECRET_KEY,
            TESTGEN_LOG_FILE=str(log_file),
            OPENAI_API_BASE=f"{llm.base}/v1",
            ANTHROPIC_API_BASE=llm.base,
            OLLAMA_BASE_URL=llm.base,
            OPENAI_API_KEY=OPENAI_KEY,
            ANTHROPIC_API_KEY=ANTHROPIC_KEY,
            PRIMARY_LLM_PROVIDER="openai",
            LOCAL_LLM_ENABLED="false",
            LLM_RATE_LIMIT="6000",
        )
        env.update(overrides)
        for name in unset:
            env.pop(name, None)
        svc = TestGen(env, port, tmp_path / f"stdout{n}.log", log_file)
        started.append(svc)
        if wait:
            svc.wait_healthy("/health")
        return svc

    try:
        yield start
    finally:
        for svc in started:
            svc.stop()
    # Whatever happened in the test: no secret in any log line or any output.
    for svc in started:
        for text in (svc.log(), svc.output(), llm.output()):
            for secret in (OPENAI_KEY, ANTHROPIC_KEY, SECRET_KEY, PG_PASSWORD):
                assert secret not in text, "a secret leaked into the logs"
