"""Physical limits: each component started bare, outside the harness, as the stack starts it.

- `initdb` with template_datadir's flags (as `nobody` when root): what a stack would pay
  per start without the cached template.
- `cp -a` of the cached template: what each stack pays instead.
- `postgres` on a copied data dir, with LocalStack's flags, to the first successful
  `SELECT 1` (psycopg, polled every 2 ms).
- `redis-server` with LocalStack's flags to `+PONG` (raw RESP, polled every 1 ms).
- `python -c 'import M'` for the three Python services, plus the interpreter alone
  (`python -c pass`) and the shim's interpreter (`python -S -c pass`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import REPO, poll_until, rmtree, stats, stop_process, tree_cpu

from harness.backends.local import servers
from harness.backends.local.ports import free_port

PG_USER = PG_DB = "testgen"
IMPORTS = {
    "import harness.services.testgen.app": "harness.services.testgen.app",
    "import harness.services.mockllm.app": "harness.services.mockllm.app",
    "import harness.faultproxy": "harness.faultproxy",
}


def _owner_kwargs() -> dict[str, Any]:
    owner = servers.run_as()
    return {"user": owner[0], "group": owner[1]} if owner else {}


def _workdir(prefix: str) -> Path:
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(work, 0o755)
    owner = servers.run_as()
    if owner:
        os.chown(work, *owner)
    return work


def initdb_once() -> float:
    bindir = servers.postgres_bindir()
    work = _workdir("bench-initdb-")
    data = work / "data"
    try:
        start = time.perf_counter()
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            check=True,
            cwd=work,
            **_owner_kwargs(),
        )
        return time.perf_counter() - start
    finally:
        rmtree(work)


def copy_template_once() -> float:
    template = servers.template_datadir(PG_USER, PG_DB)
    work = _workdir("bench-pgcopy-")
    try:
        start = time.perf_counter()
        subprocess.run(["cp", "-a", str(template), str(work / "data")], check=True)
        return time.perf_counter() - start
    finally:
        rmtree(work)


def _pg_ready(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=PG_USER, dbname=PG_DB, connect_timeout=1
        ) as conn:
            conn.execute("SELECT 1")
            return True
    except psycopg.Error:
        return False


def postgres_start_once() -> tuple[float, float]:
    """(seconds to the first SELECT 1, CPU seconds of the postgres tree by then)."""
    template = servers.template_datadir(PG_USER, PG_DB)
    work = _workdir("bench-pgstart-")
    data, sockets = work / "data", work / "run"
    subprocess.run(["cp", "-a", str(template), str(data)], check=True)
    sockets.mkdir()
    owner = servers.run_as()
    if owner:
        os.chown(sockets, *owner)
    port = free_port()
    argv = [
        str(servers.postgres_bindir() / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={sockets}",
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "shared_buffers=16MB",
        "-c",
        "max_connections=60",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=work,
        **_owner_kwargs(),
    )
    try:
        waited = poll_until(lambda: _pg_ready(port), timeout=30)
        if waited is None:
            raise RuntimeError("bare postgres did not accept connections in 30 s")
        elapsed = time.perf_counter() - start
        return elapsed, tree_cpu(proc.pid)
    finally:
        stop_process(proc, sig=2)
        rmtree(work)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_start_once() -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = free_port()
    argv = [
        servers.redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(work),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        if poll_until(lambda: _redis_ping(port), timeout=10, every=0.001) is None:
            raise RuntimeError("bare redis-server did not answer PING in 10 s")
        return time.perf_counter() - start, tree_cpu(proc.pid)
    finally:
        stop_process(proc)
        rmtree(work)


def python_once(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) of one interpreter run."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def measure(runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    servers.template_datadir(PG_USER, PG_DB)  # made once per machine; not measured here
    out["initdb"] = stats(initdb_once() for _ in range(runs))
    out["pg_template_copy"] = stats(copy_template_once() for _ in range(runs))
    pg = [postgres_start_once() for _ in range(runs)]
    out["postgres_start"] = stats(w for w, _ in pg)
    out["postgres_start_cpu"] = stats(c for _, c in pg)
    rd = [redis_start_once() for _ in range(runs)]
    out["redis_start"] = stats(w for w, _ in rd)
    out["redis_start_cpu"] = stats(c for _, c in rd)
    cases = {
        "python -c pass": ["-c", "pass"],
        "python -S -c pass": ["-S", "-c", "pass"],
        **{label: ["-c", label] for label in IMPORTS},
    }
    for label, args in cases.items():
        python_once(args)  # warm the page cache and the .pyc files
        res = [python_once(args) for _ in range(runs)]
        out[label] = stats(w for w, _ in res)
        out[label + " (cpu)"] = stats(c for _, c in res)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3), indent=2))
