"""The stack's own Ryuk: a watchdog process that removes a stack's engine resources when
the harness process that owns them is gone, however it went (even SIGKILL).

The harness starts it with a pipe on its stdin and keeps the write end. The pipe reaches
end-of-file when the harness closes it (the stack closed: nothing left to do but check)
or when the harness process dies (the kernel closes its files): either way the reaper
removes whatever still carries the stack's label, then exits. It runs in its own session,
so a Ctrl-C or a signal to the harness's process group does not take it down first.

    python -m harness.backends.docker.reaper STACK_ID
"""

from __future__ import annotations

import subprocess
import sys


def spawn(stack_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.backends.docker.reaper", stack_id],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0]:
        print("usage: python -m harness.backends.docker.reaper STACK_ID", file=sys.stderr)
        return 2
    while sys.stdin.buffer.read(4096):
        pass  # the harness never writes: wait for end-of-file
    import docker

    from harness.backends.docker.cleanup import remove_stack

    client = docker.from_env(timeout=60)
    try:
        remove_stack(client, argv[0])
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
