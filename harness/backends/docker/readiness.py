"""Waiting for a service's healthcheck during `up` with fewer `docker exec` calls.

Each exec of a healthcheck is a runc invocation in the engine and a process in the container
(the Python probe: ~0.1 CPU-s together), and a service takes seconds to start: polled every
0.25 s, a stack's `up` ran ~25 execs, more the slower the machine. On a local engine the
container's network namespace is readable from this host (/proc/<pid>/net/tcp), so the
exec waits until a process in the container listens on TCP: the servers here listen once
they can answer (uvicorn after its startup, PostgreSQL after recovery, Redis after loading).
The service's own test still decides readiness; the listener only says when to ask.
Without a readable namespace (a remote engine, another pid namespace) it polls as before.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from testcontainers.core.wait_strategies import ExecWaitStrategy

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column
_DOCKER_DNS = ("0B00007F", "0000000000000000FFFF00000B00007F")  # 127.0.0.11, the engine's
_NO_LISTENER_EXEC_EVERY = 2.0  # a service that never listens on TCP is still asked this often
_GATE_POLL = 0.05  # reading /proc is cheap


def tcp_listening(pid: int) -> bool | None:
    """True when a socket of pid's network namespace listens on TCP (other than the engine's
    embedded DNS), False when none does, None when the namespace cannot be read here."""
    seen = False
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            fields = line.split()
            listen = len(fields) > 3 and fields[3] == _LISTEN
            if listen and fields[1].split(":")[0] not in _DOCKER_DNS:
                return True
    return False if seen else None


class ListenerGatedExecWait(ExecWaitStrategy):
    """ExecWaitStrategy whose exec waits for a TCP listener in the container (local engine)."""

    def __init__(self, command: list[str], local: bool) -> None:
        super().__init__(command)
        self._local = local

    def wait_until_ready(self, container: Any) -> None:
        if not self._local:
            super().wait_until_ready(container)
            return
        pid, pid_at = _pid(container), time.monotonic()
        deadline = pid_at + self._startup_timeout
        last_exec, last_error = 0.0, ""
        while True:
            listening = tcp_listening(pid) if pid else None
            if listening is None and time.monotonic() - pid_at >= 1.0:  # restarted: new pid
                pid, pid_at = _pid(container), time.monotonic()
                listening = tcp_listening(pid) if pid else None
            every = self._poll_interval if listening is not False else _NO_LISTENER_EXEC_EVERY
            if time.monotonic() - last_exec >= every:
                last_exec = time.monotonic()
                try:
                    if container.exec(self._command).exit_code == 0:
                        return
                except Exception as exc:  # noqa: BLE001 - restarting, say: retried, as upstream
                    last_error = f": {exc}"
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{' '.join(self._command)} did not succeed within "
                    f"{self._startup_timeout:.0f} seconds{last_error}"
                )
            time.sleep(_GATE_POLL if listening is False else self._poll_interval)


def _pid(container: Any) -> int:
    try:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        return int((wrapped.attrs.get("State") or {}).get("Pid") or 0)
    except Exception:  # noqa: BLE001 - no pid: polled without the gate
        return 0
