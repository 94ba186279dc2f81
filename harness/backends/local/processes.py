"""How the local backend runs a service's process: the argv of PostgreSQL and Redis built
from the service's resolved configuration, process-group signals, and the log pump.

Redis runs with the deployment's own flags (`--requirepass`, `--appendonly`, ...: whatever
its compose `command` passes to `redis-server`); only what a process on loopback must
change is set after them (port, bind address, data dir), and a later flag wins in Redis.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from harness.backends.local import servers
from harness.compose import ServiceConfig

POSTGRES_SETTINGS = (
    "fsync=off",
    "full_page_writes=off",
    "shared_buffers=16MB",
    "max_connections=60",
)


def postgres_argv(data: Path, port: int, sockets: Path) -> list[str]:
    argv = [str(servers.postgres_bindir() / "postgres"), "-D", str(data), "-p", str(port)]
    for setting in (
        "listen_addresses=127.0.0.1",
        f"unix_socket_directories={sockets}",
        *POSTGRES_SETTINGS,
    ):
        argv += ["-c", setting]
    return argv


def redis_argv(config: ServiceConfig, port: int, data: Path) -> list[str]:
    """`redis-server` with the flags the service's command gives it (the deployment's
    password and persistence), then this stack's port, loopback bind and data dir."""
    flags = list(config.command)
    if flags and not flags[0].startswith("-"):  # `redis-server --appendonly yes ...`
        flags = flags[1:]
    if flags and not flags[0].startswith("-"):  # a config file path: not in this stack
        flags = flags[1:]
    if "--appendonly" not in flags and "--save" not in flags:
        flags += ["--save", "", "--appendonly", "no"]  # the image's default: no persistence
    return [
        servers.redis_server_binary(),
        *flags,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
    ]


_TMPFS, _TMPFS_MIN_FREE = "/dev/shm", 512 * 2**20


def stack_root() -> str:
    """Where stack dirs go: $TMPDIR when the user set one; else the shared-memory tmpfs when
    it has room, since the PostgreSQL volume copy (34 MB, 1300 files) is the slowest part of
    a cold start and takes 0.35 s on this VM's ext4 against 0.04 s on tmpfs; else /tmp."""
    if os.environ.get("TMPDIR"):
        return tempfile.gettempdir()
    try:
        fs = os.statvfs(_TMPFS)
        if fs.f_bavail * fs.f_frsize >= _TMPFS_MIN_FREE and os.access(_TMPFS, os.W_OK | os.X_OK):
            return _TMPFS
    except OSError:
        pass
    return tempfile.gettempdir()


def killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def pump(
    stream: IO[bytes] | None, log: IO[str], lock: threading.Lock, remaining: list[int]
) -> None:
    """Copy a process's output into the container log, one timestamped line at a time."""
    try:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with lock:
                log.write(f"{time.time():.6f} {line}\n")
                log.flush()
    finally:
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                log.close()
