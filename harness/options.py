"""The options `gameday` and `pytest -m gameday` share, defined once.

argparse's `add_argument` and pytest's `addoption` take the same keywords, so each shared
option is one spec here, added to either with `add_shared(parser.add_argument, ...)` or
`add_shared(group.addoption, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.backends import BACKENDS

SHARED: dict[str, dict[str, Any]] = {
    "--runbook": {
        "action": "append",
        "default": [],
        "metavar": "PATH",
        "help": "runbook under test (repeatable; default: every runbooks/*.md)",
    },
    "--backend": {
        "default": None,
        "help": "stack backend: auto (the default: docker if an engine has the images, else "
        f"local), {', '.join(b for b in BACKENDS if b != 'auto')}; or GAMEDAY_BACKEND",
    },
    "--compose": {
        "default": None,
        "metavar": "PATH",
        "help": "compose file (default: docker-compose.chaos.yml of the repository)",
    },
    "--scenario": {
        "action": "append",
        "default": [],
        "metavar": "ID",
        "help": "run only this scenario (exact id, see `gameday list`; repeatable; default: all)",
    },
}


def add_shared(add: Callable[..., Any], *names: str, **overrides: dict[str, Any]) -> None:
    """Add the named shared options with `add` (overrides by option name without dashes)."""
    for name in names:
        add(name, **{**SHARED[name], **overrides.get(name.lstrip("-"), {})})
