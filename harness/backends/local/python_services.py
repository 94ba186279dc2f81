"""The stack's Python services (`{python} -m MODULE` in x-local): the environment every
service starts from, and the zygote they are forked from (harness/backends/local/zygote.py):
the run's, shared by the stacks of every gameday the executor forks, else a stack's own.

    execute() ─ preload_run(compose) ─▶ one zygote ◀─ fork requests ─ each gameday's stack
    pytest, a lone gameday ──────────▶ LocalStack: a zygote of its own, closed with it
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.backends.local import zygote
from harness.backends.local.observe import STACK_MARKER
from harness.backends.local.zygote import Zygote
from harness.compose import ComposeFile


def base_env(home: str, stack_id: str | None) -> dict[str, str]:
    """What every service's environment starts from (its compose environment follows)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": home,
        "PYTHONUNBUFFERED": "1",
    }
    if stack_id is not None:
        env[STACK_MARKER] = stack_id
    if os.environ.get("PYTHONPATH"):  # the Python services run the harness's own code
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def modules(compose: ComposeFile) -> list[str]:
    """The modules of the services the stack runs as `{python} -m MODULE`."""
    found = set()
    for name in compose.service_names:
        command = (compose.spec(name).get("x-local") or {}).get("command") or []
        if len(command) >= 3 and command[:2] == ["{python}", "-m"]:
            found.add(str(command[2]))
    return sorted(found)


def wanted() -> bool:
    """GAMEDAY_ZYGOTE=0 starts every service by exec (to compare, or to rule the zygote out)."""
    return os.environ.get("GAMEDAY_ZYGOTE", "1").strip() != "0"


def preload_run(compose: ComposeFile) -> Callable[[], None]:
    """Before a run forks its gamedays: one zygote that every gameday's stack forks its
    Python services from, instead of one per stack. Returns its closer."""
    names = modules(compose)
    if not names or not wanted() or zygote.for_run() is not None:
        return lambda: None
    # No stack's marker (no stack's reaper ends it), and no real home: the user site of
    # its interpreter would differ from the one of a service started in a stack dir.
    zygote.start_for_run(names, base_env("/nonexistent", None))
    return zygote.end_for_run


def zygote_for_stack(compose: ComposeFile, env: Mapping[str, str],
                     cwd: Path) -> tuple[Zygote | None, bool]:  # fmt: skip
    """The run's zygote when it preloads every module this stack needs with the same
    interpreter settings, else a new one of the stack's own (started now, so its imports
    overlap the stack's other work); and whether it is the stack's own."""
    names = modules(compose)
    if not names or not wanted():
        return None, False
    shared = zygote.for_run()
    if (shared is not None and set(names) <= set(shared.modules)
            and shared.interpreter == zygote.interpreter_env(env)):  # fmt: skip
        return shared, False
    return Zygote(names, env, cwd), True
