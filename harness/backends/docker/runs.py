"""Who owns what on this host: one locked record per live docker stack, so a sweep can tell
a dead run from a live one, and clean up everything a dead one started.

A stack writes `<registry>/<stack id>.json` (its owner, temp dir, run) and holds an
exclusive `flock` on it for its whole life. The kernel drops the lock when the process
goes, however it goes (SIGKILL included), so "the lock can be taken" means "the run is
dead", with no pid-reuse or pid-namespace guesswork, and a live run's record can never be
taken. The record is created under a temporary name, locked, then renamed into place, so
no sweep ever sees it unlocked.

    DockerStack() ──▶ register(): write + flock <id>.json
    close() / reaper ──▶ clean(): host processes, engine resources, iptables rules, temp dir
    next DockerStack() ──▶ sweep(): every record whose lock is free ──▶ clean()

Host processes the harness started for a stack (a fault's port squatter, a runbook step
still running) carry `GAMEDAY_STACK_ID=<id>` in their environment, or the stack's temp dir
(the command bridge's socket); that is how clean() finds them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import psutil

from harness.backends.docker import egress
from harness.backends.docker.cleanup import live_stack_ids, remove_stack
from harness.backends.docker.location import locate

MARKER = "GAMEDAY_STACK_ID"
RUN_ENV = "GAMEDAY_RUN"  # a CI job's name for its run: labels, and the leftover check
DIR_PREFIX = "gameday-docker-"
_ID = re.compile(r"^\d+-[0-9a-f]{6}$")


def registry() -> Path:
    """Per user and independent of TMPDIR, so every run on the host sees every other."""
    path = Path(os.environ.get("GAMEDAY_DOCKER_RUNS") or f"/tmp/.gameday-docker-runs-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@dataclass
class Record:
    stack_id: str
    owner: str
    dir: str
    run: str
    engine: str = ""  # DOCKER_HOST it was made on ("": the local engine's socket)


class Registration:
    """A live stack's record, locked until release()."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.path = registry() / f"{record.stack_id}.json"
        tmp = self.path.with_suffix(".new")
        self._file: IO[str] | None = open(tmp, "w")  # noqa: SIM115 - held for the stack's life
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        json.dump(record.__dict__, self._file)
        self._file.flush()
        os.rename(tmp, self.path)

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._file.close()  # drops the lock
        self._file = None


def _take_dead(path: Path) -> tuple[Record, IO[str]] | None:
    """The record at path with its lock, if its owner is gone; None while it lives."""
    try:
        f = open(path)  # noqa: SIM115 - returned to the caller, which closes it
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    try:
        data = json.loads(f.read() or "{}")
        return Record(**{k: str(data.get(k, "")) for k in Record.__dataclass_fields__}), f
    except (ValueError, TypeError):
        return Record(path.stem, "", "", ""), f


def owner_gone(path: Path) -> bool:
    """True when the record at path belongs to a stack whose process is gone."""
    taken = _take_dead(path)
    if taken is None:
        return False
    taken[1].close()
    return True


def forget_if_dead(stack_id: str) -> None:
    """Delete a stack's record once its owner is gone (the reaper, after cleaning up)."""
    path = registry() / f"{stack_id}.json"
    taken = _take_dead(path)
    if taken is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        taken[1].close()


def host_processes(stack_id: str, stack_dir: str) -> list[psutil.Process]:
    """Host processes started for the stack: the marker, or the stack's dir, in their env."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get(MARKER) == stack_id or (
            stack_dir and any(stack_dir in value for value in env.values())
        ):
            found.append(proc)
    return found


def kill_host_processes(stack_id: str, stack_dir: str) -> list[str]:
    killed = []
    for proc in host_processes(stack_id, stack_dir):
        with contextlib.suppress(psutil.Error, OSError):
            name = proc.name()
            if proc.pid == os.getpgid(proc.pid):  # a session of its own (the squatter)
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            killed.append(f"process {proc.pid} ({name})")
    return killed


def current_engine() -> str:
    """The engine this process talks to, as records name it."""
    return locate().url if locate().remote else ""


def clean(client: docker.DockerClient, stack_id: str, stack_dir: str) -> list[str]:
    """Everything one stack started on this host and on the engine, removed. (A remote
    engine's rules live on its host: the stack's helper deletes them, or the next stack's
    helper sweeps them, see site.py.)"""
    removed = kill_host_processes(stack_id, stack_dir)
    removed += remove_stack(client, stack_id)
    if not locate().remote:
        rules = egress.remove_rules_of(stack_id)
        removed += [f"iptables rule of {stack_id}" for _ in range(rules)]
    if stack_dir and os.path.isdir(stack_dir):
        shutil.rmtree(stack_dir, ignore_errors=True)
        removed.append(f"dir {stack_dir}")
    return removed


def sweep(client: docker.DockerClient) -> list[str]:
    """Clean up after every docker stack on this host whose process is gone: records whose
    lock is free, then temp dirs no record names whose creator's pid is gone, then the
    iptables rules of stacks without a network."""
    removed: list[str] = []
    engine = current_engine()
    for path in sorted(registry().glob("*.json")):
        taken = _take_dead(path)
        if taken is None:
            continue
        record, lock = taken
        if record.engine != engine:  # another engine's: cleaned by a run that talks to it
            lock.close()
            continue
        try:
            removed += clean(client, record.stack_id, record.dir)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                # Named even when another process's sweep took the rest first (a stack of
                # another registry sweeps dead temp dirs and engine resources too).
                removed.append(f"record of {record.stack_id}")
        finally:
            lock.close()
    recorded = {p.stem for p in registry().glob("*.json")}
    for stack_dir in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        stack_id = "-".join(stack_dir.name[len(DIR_PREFIX) :].split("-")[:2])
        pid = stack_id.partition("-")[0]
        if _ID.match(stack_id) and stack_id not in recorded and not psutil.pid_exists(int(pid)):
            removed += clean(client, stack_id, str(stack_dir))
    if not engine:
        egress.sweep(live_stack_ids(client))
    return removed
