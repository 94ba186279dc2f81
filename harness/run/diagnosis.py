"""The stack's state in the runbook's terms, for a not-recovered reason: what of the fault
persists, which containers are not running, and configuration they never saw."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.backends.base import Stack, Status
from harness.bridge.humanize import status_text
from harness.faults.base import Fault


def diagnose(
    stack: Stack, shell_env: Mapping[str, str], fault: Fault, redact: Callable[[str], str]
) -> list[str]:
    parts = []
    still = fault.diagnose(stack)
    if still:
        parts.append(still)
    states = stack.containers()
    down = [f"{s.name} {status_text(s)}" for s in states.values() if s.status != Status.RUNNING]
    missing = [n for n in stack.compose.startup_order() if n not in states]
    if down:
        parts.append("containers: " + ", ".join(down))
    if missing:
        parts.append("services with no container: " + ", ".join(missing))
    parts.extend(stale_config(stack, shell_env))
    return [redact(p) for p in parts]


def value_source(
    key: str, value: str, shell_env: Mapping[str, str], dotenv: Mapping[str, str]
) -> str:
    """Where compose now gets a variable's value: the operator's shell wins over `.env`,
    which wins over the compose file's own default."""
    if shell_env.get(key) == value:
        return "the operator's shell"
    if dotenv.get(key) == value:
        return "`.env`"
    return "the compose file"


def stale_config(stack: Stack, shell_env: Mapping[str, str]) -> list[str]:
    """Exports and `.env` edits the running containers never saw."""
    wanted = stack.resolve_config(shell_env)
    dotenv = stack.dotenv()
    notes = []
    for service, state in stack.containers().items():
        if service not in wanted:
            continue
        have, want = state.config.env, wanted[service].env
        changed = sorted(k for k in want if have.get(k) != want[k])
        if not changed:
            continue
        sources = {k: value_source(k, want[k], shell_env, dotenv) for k in changed}
        pairs = ", ".join(
            f"{k}={have.get(k, '<unset>')!s} ({sources[k]} now gives {want[k]!s})"
            for k in changed
        )
        why = []
        if "the operator's shell" in sources.values():
            why.append("`export` reaches only the operator's shell")
        if "`.env`" in sources.values():
            why.append("`.env` is read only when compose creates a container")
        why.append("`restart` keeps the old environment")
        notes.append(
            f"{state.name} still runs with the configuration it was created with: "
            f"{pairs}; no step recreated it ({', '.join(why)})"
        )
    return notes
