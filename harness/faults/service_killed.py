"""A service's container killed with SIGKILL through the engine (`docker kill`): it stays down."""

from __future__ import annotations

import signal

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.faults.params import SERVICE_NAME, Param


class ServiceKilled(Fault):
    kind = "service-killed"
    params = (
        Param("service", str, "the compose service whose container is killed",
              pattern=SERVICE_NAME),
    )

    def __init__(self, service: str = "testgen") -> None:
        self.service = service
        self._pid: int | None = None

    def inject(self, stack: Stack) -> None:
        self._pid = stack.containers()[self.service].pid
        stack.kill(self.service, signal.SIGKILL)

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        if state is None or state.status == Status.EXITED:
            code = state.exit_code if state else "removed"
            return f"{self.service} (pid {self._pid}) killed: Exited ({code})"
        self.shortfall = f"{state.name} is {state.status.value} after the kill (asked: exited)"
        return None

    def still_in_effect(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        if state is None:
            return f"{self.service} has no container"
        if state.status != Status.RUNNING:
            return f"{state.name} is {state.status.value} (exit {state.exit_code})"
        return None

    @property
    def description(self) -> str:
        return (
            f"The {self.service} container was killed with SIGKILL through the engine "
            "(as `docker kill` or a host-level kill would); its restart policy does not apply."
        )
