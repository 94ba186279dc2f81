"""The drift checks, one concern per module; each has `check(ctx) -> list[Finding]` and
names its rules in `RULES`. `harness.deployment.drift` runs them all, in `CHECKS` order."""

from __future__ import annotations

from collections.abc import Callable

from harness.deployment.context import Context
from harness.deployment.report import Finding
from harness.deployment.rules import (
    environment,
    files,
    hosttools,
    lifecycle,
    mounts,
    names,
    ports,
    profiles,
    redis_auth,
    tools,
    upblockers,
)

Check = Callable[[Context], list[Finding]]
MODULES = (
    files,
    names,
    ports,
    profiles,
    redis_auth,
    environment,
    mounts,
    tools,
    hosttools,
    upblockers,
    lifecycle,
)
CHECKS: tuple[Check, ...] = tuple(m.check for m in MODULES)
RULES: tuple[str, ...] = tuple(rule for m in MODULES for rule in m.RULES)
