"""The stack's own Ryuk: a watchdog process that removes a stack's engine resources when
the harness process that owns them is gone, however it went (even SIGKILL).

The harness starts it with a pipe on its stdin and keeps the write end. The pipe reaches
end-of-file when the harness closes it (the stack closed: nothing left to do but check)
or when the harness process dies (the kernel closes its files): either way the reaper
removes whatever still carries the stack's label (unless the harness wrote CLOSED first:
its close removed everything and checked), kills the host processes started for
the stack (runs.py), deletes its temp dir and its record, then exits. It runs in its own session,
so a Ctrl-C or a signal to the harness's process group does not take it down first.

    python -m harness.backends.docker.reaper STACK_ID STACK_DIR
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

# What the harness writes before end-of-file when its own close removed everything and an
# engine-side listing found nothing of the stack left: the reaper then exits at once,
# without its own check (an interpreter importing the docker client, a scan of every host
# process and of the firewall: ~0.2 s of CPU and the stack's close waiting for it, per stack).
CLOSED = b"closed\n"


def spawn(stack_id: str, stack_dir: Path | None) -> subprocess.Popen[bytes]:
    """Start the reaper for a stack; it also deletes stack_dir, unless that is None."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.backends.docker.reaper", stack_id, str(stack_dir or "")],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def release(proc: subprocess.Popen[bytes], clean: bool) -> None:
    """End-of-file to the stack's reaper (CLOSED first when the close left nothing: it then
    skips its check), and wait for it up to 30 s (past that it runs on by itself)."""
    if proc.stdin:
        with contextlib.suppress(OSError):  # a reaper that is gone already
            if clean:
                proc.stdin.write(CLOSED)
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0]:
        print("usage: python -m harness.backends.docker.reaper STACK_ID STACK_DIR", file=sys.stderr)
        return 2
    said = b""
    while chunk := sys.stdin.buffer.read(4096):  # wait for end-of-file
        said += chunk
    if said == CLOSED:
        return 0  # the stack closed and saw nothing of its own left on the engine
    import docker

    from harness.backends.docker import egress, runs
    from harness.backends.docker.cleanup import live_stack_ids

    client = docker.from_env(timeout=60)
    try:
        # Host processes (a fault's port squatter), containers, network, volumes, rules.
        runs.clean(client, argv[0], argv[1])
        if not runs.current_engine():  # a remote engine's rules: its helpers' (site.py)
            egress.sweep(live_stack_ids(client))
        runs.forget_if_dead(argv[0])
    finally:
        client.close()
        if argv[1]:
            shutil.rmtree(argv[1], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
