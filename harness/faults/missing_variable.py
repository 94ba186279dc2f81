"""Service won't start: a deploy recreated it from a `.env` that lacks a required variable."""

from __future__ import annotations

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.faults.params import ENV_NAME, SERVICE_NAME, Param


class MissingVariable(Fault):
    kind = "missing-variable"
    params = (
        Param("variable", str, "the variable the operator's .env lacks at the deploy",
              pattern=ENV_NAME),
        Param("service", str, "the compose service the deploy recreates", pattern=SERVICE_NAME),
    )

    def __init__(self, variable: str = "TESTGEN_SECRET_KEY", service: str = "testgen") -> None:
        self.variable, self.service = variable, service

    def inject(self, stack: Stack) -> None:
        dotenv = stack.info.workdir / ".env"
        lines = dotenv.read_text().splitlines() if dotenv.exists() else []
        dotenv.write_text(
            "".join(
                line + "\n" for line in lines if not line.strip().startswith(f"{self.variable}=")
            )
        )
        # The deploy: `docker-compose up -d` with the new .env recreates the service.
        config = stack.resolve_config()[self.service]
        stack.create(self.service, config)

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        if state and state.status != Status.RUNNING and state.exit_code not in (None, 0):
            return (
                f"{state.name} created without {self.variable}: exit {state.exit_code}, "
                f"{state.status.value}"
            )
        self.shortfall = (f"{self.service} recreated without {self.variable} is "
                          f"{state.status.value if state else 'missing'} (asked: refuses to start)")
        return None

    def still_in_effect(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        if state is None:
            return f"{self.service} has no container"
        if self.variable not in state.config.env:
            return f"{state.name} runs without {self.variable} ({state.status.value})"
        if state.status != Status.RUNNING:
            return f"{state.name} is {state.status.value} (exit {state.exit_code})"
        return None

    @property
    def description(self) -> str:
        return (
            f"A deploy recreated {self.service} from an operator .env that lacks the required "
            f"{self.variable}; the service refuses to start."
        )
