"""A service's main process dies by itself (SIGKILL from outside the engine, as the kernel
would): the engine sees a crash, and the `restart:` policy decides what happens next."""

from __future__ import annotations

import signal

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.faults.params import SERVICE_NAME, Param


class ProcessCrash(Fault):
    kind = "process-crash"
    params = (
        Param("service", str, "the compose service whose main process is killed",
              pattern=SERVICE_NAME),
    )

    def __init__(self, service: str = "testgen") -> None:
        self.service = service
        self._restarts = 0
        self._pid: int | None = None

    def inject(self, stack: Stack) -> None:
        self._restarts = stack.containers()[self.service].restart_count
        self._pid = stack.crash(self.service, signal.SIGKILL)

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        if state is None:
            self.shortfall = f"{self.service} has no container"
            return None
        if state.status != Status.RUNNING or state.restart_count > self._restarts:
            return (f"{self.service} pid {self._pid} died (exit {state.exit_code}); "
                    f"status {state.status}")
        self.shortfall = (f"{state.name} still running with {state.restart_count} restarts "
                          f"after the SIGKILL of pid {self._pid}")  # fmt: skip
        return None

    def still_in_effect(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        if state is None or state.status != Status.RUNNING:
            return f"{self.service} is not running"
        return None

    @property
    def description(self) -> str:
        return f"The {self.service} process crashed (SIGKILL outside the engine)."
