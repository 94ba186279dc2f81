"""A pre-imported parent (per run, or per stack): forks the Python services instead of
starting them.

    LocalStack ──Popen──▶ zygote.py (imports the services' modules once, then waits)
        │  control socket: {"argv", "env", "cwd", "cgroup"} + 3 fds (status socket, stdout,
        │  stderr); {"ping"} + 1 fd, answered b"ready" once the imports are done
        ▼
    zygote ──fork──▶ service: setsid, joins its memory cgroup, gets the stack's environment,
        │            stdio, argv and process title, then runs `python -m <module>` (runpy)
        └──status socket──▶ b"pid N", then b"exit <wait status>" when the service ends

A `python -m harness.services.testgen` start costs ~0.35 CPU-s, nearly all of it imports
(psycopg, redis.asyncio, starlette, httpx, uvicorn), and a stack starts four Python services
plus every restart and recreate. A fork of this process costs a few ms. The child is still a
service of its own: its own pid and process group (signals, `docker kill`), its memory
cgroup (joined before it runs), the environment the stack computed at this start (what a
runbook step changed before a restart or recreate), its own log pipes, and its exit status
reported to the stack (`ForkedProcess`, the part of `subprocess.Popen` the stack uses).

The zygote is single-threaded (a fork of it is safe) and starts fresh from `exec`, with the
environment the services would start with, so their interpreter is the one they would get.
It ends when every holder of its control socket has closed it (the run's: the executor and
its gamedays; a stack's own: that stack), leaving the services to their stacks.
Only a command `python -m <module>` with the interpreter and `PYTHON*`/locale variables the
zygote started with is forked; anything else, or a zygote that has died, starts by `exec`.

    python harness/backends/local/zygote.py CONTROL_FD MODULE[,MODULE...] TITLE_ROOM
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

# Variables read when an interpreter starts: a service whose values differ is exec'd.
_INTERPRETER_PREFIXES = ("PYTHON", "LC_")
_INTERPRETER_NAMES = ("LANG", "LANGUAGE")
TITLE_ROOM = 256  # bytes of /proc/PID/cmdline a forked service can write its argv into
_MAX_MESSAGE = 1 << 20
READY_TIMEOUT_S = 30.0


def interpreter_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in env.items()
        if k.startswith(_INTERPRETER_PREFIXES) or k in _INTERPRETER_NAMES
    }  # fmt: skip


def python_module(argv: Sequence[str]) -> str | None:
    """The module of a `<this python> -m MODULE ...` command, else None."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2]
    return None


# -- the stack's side ------------------------------------------------------------------------


class ForkedProcess:
    """A service forked by the zygote, with the part of `subprocess.Popen` the stack uses:
    `pid`, `returncode`, `poll()`, `wait(timeout)`, `stdout`, `stderr`."""

    def __init__(self, args: list[str], pid: int, status: socket.socket,
                 stdout: IO[bytes], stderr: IO[bytes]) -> None:  # fmt: skip
        self.args, self.pid, self.stdout, self.stderr = args, pid, stdout, stderr
        self.returncode: int | None = None
        self._status = status
        self._lock = threading.Lock()
        try:  # exit notice even if the zygote is gone (the status then is unknown)
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None and self._lock.acquire(blocking=False):
            try:
                self._read()
            finally:
                self._lock.release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Under the lock: a poll() in another thread (the supervisor's) that sees the exit
            # closes the descriptors this select waits on.
            with self._lock:
                if self.returncode is None:
                    self._read()
                if self.returncode is not None:
                    return self.returncode
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
                fds: list[int] = [self._status.fileno()] if self._status.fileno() >= 0 else []
                fds += [self._pidfd] if self._pidfd is not None and not fds else []
                select.select(fds, [], [], 0.1 if left is None else min(left, 0.1))

    def _read(self) -> None:
        """Take the zygote's `exit` line; when the process has ended (its pidfd is readable),
        wait a moment for the line, which follows the kernel's notice by microseconds."""
        if self._status.fileno() < 0:  # the zygote went away first: ask the kernel
            if self._exited():
                self._set(-signal.SIGKILL)
            return
        if not select.select([self._status], [], [], 0)[0]:
            if not self._exited():
                return
            select.select([self._status], [], [], 1.0)
        try:
            message = self._status.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if message.startswith(b"exit "):
            self._set(os.waitstatus_to_exitcode(int(message.split()[1])))
        else:  # the zygote ended without telling: this service may still run
            self._status.close()
            if self._exited():
                self._set(-signal.SIGKILL)

    def _exited(self) -> bool:
        return self._pidfd is not None and bool(select.select([self._pidfd], [], [], 0)[0])

    def _set(self, code: int) -> None:
        self.returncode = code
        self._status.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class Zygote:
    """A handle on a zygote: the stack's own, or the run's (`for_run`), shared by the stacks
    of every gameday the executor forks. `fork()` returns None when the command is not one
    the zygote can run, or the zygote is gone (the stack then starts it by exec)."""

    def __init__(self, modules: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.modules = tuple(modules)
        self.interpreter = interpreter_env(env)
        self.owner = os.getpid()  # only the process that started it ends it
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno()), ",".join(self.modules),
             "x" * TITLE_ROOM],
            env=dict(env), cwd=cwd, pass_fds=(theirs.fileno(),), start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        theirs.close()
        self._control = ours
        self._lock = threading.Lock()
        self._ready: bool | None = None  # None until it answered this process's ping
        self.failure = ""

    def after_fork(self) -> None:
        """In a forked child (a gameday of the run): a lock of its own."""
        self._lock = threading.Lock()

    def ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """Wait (once per process) until the zygote has imported the services' modules: it
        answers a ping only then."""
        with self._lock:
            if self._ready is None:
                try:
                    reply = self._request({"ping": True}, [], timeout)
                except OSError as exc:
                    reply, self.failure = b"", str(exc)
                self._ready = reply == b"ready"
                if not self._ready and os.getpid() == self.owner:
                    self.failure = self._stderr() or self.failure
            return self._ready

    def _request(self, body: dict[str, object], fds: list[int], timeout: float,
                 ) -> bytes:  # fmt: skip
        """Send one request with its reply socket (and `fds`); the first reply, b"" if the
        zygote closed it. The caller holds the lock."""
        reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            socket.send_fds(self._control, [json.dumps(body).encode()], [theirs.fileno(), *fds])
            theirs.close()
            if not select.select([reply], [], [], timeout)[0]:
                raise OSError(f"the zygote did not answer in {timeout:.0f} s")
            return reply.recv(64)
        finally:
            theirs.close()
            reply.close()

    def _stderr(self) -> str:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        tail = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        return tail.strip().splitlines()[-1] if tail.strip() else f"exit {self.proc.returncode}"

    def forks(self, argv: Sequence[str], env: Mapping[str, str]) -> bool:
        return python_module(argv) in self.modules and interpreter_env(env) == self.interpreter

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: Path,
             cgroup_procs: Path | None) -> ForkedProcess | None:  # fmt: skip
        if not self.forks(argv, env) or not self.ready():
            return None
        request = {"argv": argv, "env": dict(env), "cwd": str(cwd),
                   "cgroup": str(cgroup_procs) if cgroup_procs else None}  # fmt: skip
        status, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._control, [json.dumps(request).encode()],
                                [theirs.fileno(), out_w, err_w])  # fmt: skip
            for fd in (theirs.detach(), out_w, err_w):
                os.close(fd)
            if not select.select([status], [], [], 10.0)[0]:
                raise OSError("the zygote did not answer")
            reply = status.recv(64)
            if not reply.startswith(b"pid "):
                raise OSError(reply.decode(errors="replace") or "the zygote closed")
        except OSError:
            for fd in (out_r, err_r, *((out_w, err_w) if theirs.fileno() >= 0 else ())):
                os.close(fd)
            theirs.close()
            status.close()
            with self._lock:
                self._ready = False  # the stack starts its services by exec from now on
            return None
        return ForkedProcess(argv, int(reply.split()[1]), status,
                             open(out_r, "rb"), open(err_r, "rb"))  # fmt: skip

    def close(self) -> None:
        """End the zygote (its services are their stacks' to end: they have their own groups);
        in any other process than its starter, only let go of it."""
        self._control.close()
        if os.getpid() != self.owner:
            return
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


_for_run: Zygote | None = None


def for_run() -> Zygote | None:
    """The run's zygote, started by the executor's process before it forks the gamedays."""
    return _for_run


def start_for_run(modules: Sequence[str], env: Mapping[str, str]) -> Zygote:
    """One zygote for every stack of a run (each stack otherwise starts its own)."""
    global _for_run
    if _for_run is None:
        _for_run = Zygote(modules, env, Path("/"))
        os.register_at_fork(after_in_child=_for_run.after_fork)
    return _for_run


def end_for_run() -> None:
    global _for_run
    if _for_run is not None:
        zygote, _for_run = _for_run, None
        zygote.close()


# -- the zygote's side (runs as a script; standard library only until it preloads) ---------


def _preload(modules: Sequence[str]) -> None:
    """Import what `python -m MODULE` would: every module of the package but `__main__`
    (some are imported lazily), what the package lists in `PRELOAD` (third-party modules it
    imports only at start), and the parts of uvicorn its server loads by name."""
    import importlib
    import pkgutil

    importlib.import_module("encodings.idna")  # the first getaddrinfo of a host name needs it
    for name in modules:
        package = importlib.import_module(name)
        for lazy in getattr(package, "PRELOAD", ()):  # what the service imports only at start
            importlib.import_module(lazy)
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if info.name != "__main__":  # it may run the service when imported: runpy runs it
                importlib.import_module(f"{name}.{info.name}")
    if "uvicorn" in sys.modules:
        from uvicorn import config
        from uvicorn.importer import import_from_string

        table = vars(config)  # the loop table's name changed across uvicorn versions
        loops = table.get("LOOP_FACTORIES") or table.get("LOOP_SETUPS") or {}
        for spec in (config.HTTP_PROTOCOLS["h11"], config.LIFESPAN["on"], loops.get("asyncio")):
            if spec:
                import_from_string(spec)


def _set_title(argv: Sequence[str]) -> None:
    """Write the service's argv over the zygote's in memory, so /proc/PID/cmdline (`ps`,
    `pgrep -f testgen`) names the service. The last byte of the room stays non-NUL: the
    kernel then reads the title up to its first NUL (the setproctitle convention)."""
    import ctypes

    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    title = " ".join(argv).encode()[: end - start - 2] + b"\0"
    ctypes.memmove(start, title + b" " * (end - start - len(title)), end - start)


def _stdio(env: Mapping[str, str]) -> None:
    """Fresh sys.std* on fds 0-2, buffered as the service's interpreter would buffer them."""
    import io

    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    encoding = sys.__stdout__.encoding if sys.__stdout__ else "utf-8"
    stdin = io.BufferedReader(io.FileIO(0, "r", closefd=False))
    sys.stdin = io.TextIOWrapper(stdin, encoding=encoding)
    setattr(sys, "__stdin__", sys.stdin)  # noqa: B010 - typeshed calls it final
    for fd, name, errors in ((1, "stdout", "strict"), (2, "stderr", "backslashreplace")):
        raw = io.FileIO(fd, "w", closefd=False)
        # Unbuffered: the text layer writes straight to the fd, as python -u's does.
        layer = raw if unbuffered else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(layer, encoding=encoding,
                                  errors=errors, line_buffering=fd == 2,
                                  write_through=unbuffered)  # fmt: skip
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _run_service(request: dict[str, object], status_fd: int, out: int, err: int,
                 keep_closed: Sequence[int]) -> None:  # fmt: skip
    """In the forked child: become the service, run it, exit as its interpreter would."""
    code = 2  # the set-up failed, as `sh -c 'echo $$ > procs && exec ...'` would
    try:
        argv = _become(request, status_fd, out, err, keep_closed)
        code = _run(argv)
    except BaseException:  # noqa: BLE001 - nothing may return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        if code < 0:  # an uncaught Ctrl-C ends the process by the signal, as python does
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code & 0xFF)


def _become(request: dict[str, object], status_fd: int, out: int, err: int,
            keep_closed: Sequence[int]) -> list[str]:  # fmt: skip
    """Own session, the zygote's fds closed, the service's stdio, memory cgroup, directory,
    environment and title; returns its argv."""
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in request["env"].items()}  # type: ignore[attr-defined]
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    for fd in (status_fd, *keep_closed):
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    for src, dst in ((null, 0), (out, 1), (err, 2)):
        os.dup2(src, dst)
        os.close(src)
    if request.get("cgroup"):  # before the service allocates: all of it is charged
        with open(str(request["cgroup"]), "w") as procs:
            procs.write(str(os.getpid()))
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(env)
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    _stdio(env)
    _set_title(argv)
    sys.argv = [argv[2], *argv[3:]]
    return argv


def _run(argv: list[str]) -> int:
    """`python -m MODULE`'s run and exit: the exit status, negative for a signal."""
    import atexit
    import runpy
    import traceback

    code = 1
    try:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints it
        traceback.print_exc()
    threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter exits
    atexit._run_exitfuncs()
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _serve(control: socket.socket) -> None:
    """Fork a service per request; report each one's pid and, when it ends, its status."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: dict[int, socket.socket] = {}
    while True:
        readable = select.select([control.fileno(), wake_r], [], [])[0]
        if wake_r in readable:
            os.read(wake_r, 512)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reply = children.pop(pid, None)
            if reply is not None:
                _send(reply, b"exit %d" % status)
                reply.close()
        if control.fileno() not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, _MAX_MESSAGE, 3)
        if not message:  # every holder closed (or died): the services are theirs to end
            return
        request = json.loads(message)
        if request.get("ping"):
            with socket.socket(fileno=fds[0]) as pong:
                _send(pong, b"ready")
            continue
        status_fd, out, err = fds
        pid = os.fork()
        if pid == 0:
            others = [control.detach(), wake_r, wake_w, *(c.detach() for c in children.values())]
            _run_service(request, status_fd, out, err, others)
        os.close(out)
        os.close(err)
        reply = socket.socket(fileno=status_fd)
        _send(reply, b"pid %d" % pid)
        children[pid] = reply


def _send(sock: socket.socket, message: bytes) -> None:
    try:
        sock.send(message)
    except OSError:  # the stack let go of this service: nobody to tell
        pass


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[1]))
    # As `python -m` from the stack dir would have it, not this script's folder.
    sys.path[0] = os.getcwd()
    try:
        _preload([m for m in argv[2].split(",") if m])
    except BaseException as exc:  # noqa: BLE001 - the stack reads it, and then uses exec
        print(f"zygote: preload failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    import gc

    gc.collect()
    gc.freeze()  # the children's collections then leave the shared pages unwritten
    _serve(control)  # a ping is answered from here on: ready
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
