"""A long-lived terminal for a step polled ten times a second: one bash that forks a subshell
per run, instead of a bash started (exec, dynamic loading, init: ~1.2 ms of CPU) per run.

Each run is what `OperatorShell.run_command(..., isolated=True)` runs, with the same meaning:
the same script (`cd` to the operator's directory, the command with host paths mapped), the
same environment and directory (this terminal is a copy of the operator's shell as it was
when it opened: what a run exports is gone with its subshell), stdin from /dev/null, stdout
and stderr on pipes of their own, the same timeout and a kill of the run's whole process
group when it expires (exit 124), and the exit status as Popen reads it (a run whose shell
died of signal N reads -N). Line numbers in bash's messages are the script's own.

What differs, and why it does not matter to a runbook step: the run's shell is a subshell
(`$$` is the terminal's pid, not the run's; `$BASH_SUBSHELL` is 1) in a process group of its
own within the terminal's session (not a session of its own). A script bash cannot parse
(`bash -n`, checked once per script) runs the classic way, so its syntax error reads as ever.

Protocol: the terminal reads `<stdout path>\\0<stderr path>\\0<script>\\0` on stdin; the paths
are `/proc/<this pid>/fd/<n>`, the write ends of this run's pipes, opened by the terminal
before it forks (so the run holds them when it reports `pid`). It answers `\\1pid N`, then
`\\1rc N` on its stdout, where its job notifications (stderr) also go.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from functools import lru_cache

# One line: `eval` counts the script's lines from the line it stands on.
_LOOP = "; ".join(
    [
        "set -m",
        "while IFS= read -r -d '' __gameday_o && IFS= read -r -d '' __gameday_e"
        " && IFS= read -r -d '' __gameday_s; do __gameday_pid=",
        "{ ( set +m; unset __gameday_o __gameday_e __gameday_pid;"
        ' eval "unset __gameday_s; $__gameday_s" ) </dev/null & __gameday_pid=$!; }'
        ' >"$__gameday_o" 2>"$__gameday_e"',
        "if [ -z \"$__gameday_pid\" ]; then printf '\\1fail\\n'; continue; fi",
        "printf '\\1pid %s\\n' \"$__gameday_pid\"",
        'wait "$__gameday_pid"',
        "printf '\\1rc %s\\n' \"$?\"",
        "done",
    ]
)


@lru_cache(maxsize=256)
def parses(script: str) -> bool:
    """Whether bash parses the whole script (`bash -n`): only those run in a terminal."""
    if "\0" in script:
        return False
    try:
        return (
            subprocess.run(
                ["bash", "--noprofile", "--norc", "-n", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


class TerminalGone(Exception):
    """The terminal could not start the run (it died, or could not open the run's pipes)."""


class Terminal:
    """One bash, forking a subshell per run. Not thread-safe: one per polling thread."""

    def __init__(self, env: dict[str, str], cwd: str) -> None:
        self.env, self.cwd = dict(env), cwd
        self._proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", _LOOP],
            env=self.env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._status = self._proc.stdout.fileno()
        os.set_blocking(self._status, False)
        self._pending = b""
        self._lines: list[str] = []

    def alive(self) -> bool:
        return self._proc.poll() is None

    def run(self, script: str, timeout: float) -> tuple[int | None, bytes, bytes, bool]:
        """(exit status, stdout, stderr, timed out) of one run of `script`."""
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        try:
            me = os.getpid()
            request = f"/proc/{me}/fd/{w_out}\0/proc/{me}/fd/{w_err}\0{script}\0".encode(
                "utf-8", "surrogateescape"
            )
            deadline = time.monotonic() + timeout
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(request)
                self._proc.stdin.flush()
            except OSError as exc:
                raise TerminalGone(str(exc)) from exc
            pid = self._started(deadline)
        finally:
            os.close(w_out)
            os.close(w_err)
        try:
            return self._collect(pid, r_out, r_err, deadline)
        finally:
            os.close(r_out)
            os.close(r_err)

    def _started(self, deadline: float) -> int:
        """The run's pid, once the terminal has forked it (its pipes are then held by it)."""
        while True:
            while self._lines:
                line = self._lines.pop(0)
                if line.startswith("\1pid "):
                    return int(line[5:])
                if line == "\1fail":
                    raise TerminalGone("the terminal could not open the run's pipes")
            ready = _readable(self._status, max(0.0, deadline - time.monotonic()) + 5.0)
            if not ready or not self._read_status():
                raise TerminalGone("the terminal did not start the run")

    def _read_status(self) -> bool:
        """Read what the terminal said into whole lines; False at its end."""
        try:
            data = os.read(self._status, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        self._lines += [raw.decode("utf-8", "replace") for raw in lines]
        return True

    def _rc(self, notes: list[str]) -> int | None:
        """The run's `wait` status once the terminal said it; the other lines are notes."""
        rc = None
        while self._lines and rc is None:
            line = self._lines.pop(0)
            if line.startswith("\1rc "):
                rc = int(line[4:])
            else:
                notes.append(line)
        return rc

    def _collect(
        self, pid: int, r_out: int, r_err: int, deadline: float
    ) -> tuple[int | None, bytes, bytes, bool]:
        chunks: dict[int, list[bytes]] = {r_out: [], r_err: []}
        notes: list[str] = []
        rc = self._rc(notes)
        timed_out = False
        with selectors.DefaultSelector() as sel:
            for fd in (r_out, r_err, self._status):
                sel.register(fd, selectors.EVENT_READ)
            open_pipes = {r_out, r_err}
            while open_pipes or rc is None:
                left = None if timed_out else deadline - time.monotonic()
                if left is not None and left <= 0:
                    timed_out = True
                    _killpg(pid)  # the run's whole process group, as on a timeout today
                    continue
                for key, _ in sel.select(left):
                    if key.fd != self._status:
                        data = os.read(key.fd, 65536)
                        chunks[key.fd].append(data)
                        if not data:
                            sel.unregister(key.fd)
                            open_pipes.discard(key.fd)
                    elif self._read_status():
                        rc = self._rc(notes) if rc is None else rc
                    else:  # the terminal itself died (a step's `kill $$`): its status is the run's
                        sel.unregister(self._status)
                        rc = self._proc.wait() if rc is None else rc
        out, err = b"".join(chunks[r_out]), b"".join(chunks[r_err])
        if timed_out:
            return 124, out, err, True
        self._rc(notes)  # a notification that came with the status
        return _exact(rc, notes), out, err, False

    def close(self) -> None:
        """End the terminal (a run in progress is killed with its group first)."""
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # its `read` sees the end: the loop ends, bash exits
        except OSError:
            pass
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            _killpg(self._proc.pid)
            self._proc.wait()
        assert self._proc.stdout is not None
        self._proc.stdout.close()


def _readable(fd: int, timeout: float) -> bool:
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        return bool(sel.select(timeout))


def _exact(rc: int | None, notes: list[str]) -> int | None:
    """`wait` reads 128+N for a run that died of signal N, as for `exit 128+N`; bash's job
    notification tells the two apart ("Exit 137" against "Killed"), and Popen reads -N."""
    if rc is None or rc <= 128:
        return rc
    if any(f"Exit {rc}" in note for note in notes):
        return rc
    return -(rc - 128) if notes else rc


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


TerminalFactory = Callable[[], Terminal]
