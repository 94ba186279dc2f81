"""The local stack's reaper: outlives the test process, as Ryuk does for containers.

Started by every LocalStack as its own session. When the process that owns the stack
dies by any means (SIGKILL included), it kills every process that carries the stack's
marker, removes the stack's memory cgroups and its temp dir, then exits. When the stack
closes normally it is told to exit (its stdin closes).

    python -I -S harness/backends/local/reaper.py OWNER_PID STACK_ID STACK_DIR PIDFILE
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path

MARKER = "GAMEDAY_STACK_ID"


def marked_pids(stack_id: str) -> list[int]:
    needle = f"{MARKER}={stack_id}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a process from a later one that reused its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def registered_groups(pidfile: Path) -> list[int]:
    """Process groups the stack started (some services, like redis-server, overwrite their
    environment with their process title, so the marker alone cannot find them)."""
    groups = []
    try:
        lines = pidfile.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        pid, _, started = line.partition(" ")
        if pid.isdigit() and start_time(int(pid)) == started:
            groups.append(int(pid))
    return groups


def quit_postgres(groups: list[int], grace: float = 2.0) -> None:
    """PostgreSQL's immediate shutdown (SIGQUIT) removes its shared memory (a SysV segment,
    /dev/shm files), which a SIGKILL would leave behind; it takes milliseconds."""
    quitting = []
    for pgid in groups:
        try:
            with open(f"/proc/{pgid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            os.killpg(pgid, signal.SIGQUIT)
            quitting.append(pgid)
        except (OSError, ProcessLookupError):
            continue
    deadline = time.monotonic() + grace
    while quitting and time.monotonic() < deadline:
        time.sleep(0.02)
        quitting = [pgid for pgid in quitting if _alive(pgid)]


SHM = Path("/dev/shm")


def orphaned_segments(uid: int, since: float) -> list[Path]:
    """PostgreSQL's POSIX shared memory (`/dev/shm/PostgreSQL.*`) that a PostgreSQL killed
    hard leaves behind: owned by the user PostgreSQL ran as, made since `since` (epoch s),
    mapped by no live process (a running PostgreSQL keeps its segments mapped)."""
    try:
        candidates = [p for p in SHM.glob("PostgreSQL.*")]
    except OSError:
        return []
    found = []
    for path in candidates:
        try:
            st = path.stat()
        except OSError:
            continue
        # Half a second old at least: a live PostgreSQL maps a segment right after making it.
        if st.st_uid == uid and since - 1.0 <= st.st_ctime <= time.time() - 0.5:
            found.append(path)
    if not found:
        return []
    mapped = _mapped_shm()
    return [p for p in found if str(p) not in mapped]


def _mapped_shm() -> set[str]:
    mapped: set[str] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/maps") as f:
                for line in f:
                    if "/dev/shm/PostgreSQL." in line:
                        mapped.add(line.split(None, 5)[-1].strip().removesuffix(" (deleted)"))
        except OSError:
            continue
    return mapped


def sweep_segments(uid: int, since: float) -> int:
    """Remove what `orphaned_segments` finds; how many were removed."""
    removed = 0
    for path in orphaned_segments(uid, since):
        try:
            path.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def reap(stack_id: str, stack_dir: Path | None, pidfile: Path, since: float = 0.0) -> None:
    quit_postgres(registered_groups(pidfile))
    for pgid in registered_groups(pidfile):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(3):  # a dying supervisor may still spawn one more child
        pids = marked_pids(stack_id)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    for root in (
        Path("/sys/fs/cgroup/memory/gameday"),
        Path("/sys/fs/cgroup/gameday"),
        Path("/sys/fs/cgroup/unified/gameday"),
    ):
        for cg in root.glob(f"{stack_id}-*") if root.exists() else []:
            try:
                cg.rmdir()
            except OSError:
                pass
    if since:
        sweep_segments(_postgres_uid(), since)
    if stack_dir is not None:
        for _ in range(20):  # a `cp` of the data template may still be writing into it
            shutil.rmtree(stack_dir, ignore_errors=True)
            if not stack_dir.exists():
                break
            time.sleep(0.1)


def _postgres_uid() -> int:
    """PostgreSQL runs as `nobody` when the harness is root (it refuses root), else as us."""
    if os.geteuid() != 0:
        return os.geteuid()
    import pwd

    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def main() -> None:
    since = time.time()  # started with the stack: its PostgreSQL's segments are newer
    owner, stack_id, stack_dir = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    pidfile = Path(sys.argv[4])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the owner; we outlive it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    said = b""
    while True:
        # stdin is a pipe from the owner: it writes "closed" when it tore the stack down
        # itself; EOF without it means the owner died (a zombie still answers kill(pid, 0)).
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 64)
            said += chunk
            if not chunk:
                break
        elif not _alive(owner):
            break
    if b"closed" in said:
        reap(stack_id, None, pidfile, since)  # closed normally: make sure nothing outlived it
    else:
        reap(stack_id, stack_dir, pidfile, since)
    pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


if __name__ == "__main__":
    main()
