"""Listeners of a gameday's timeline (`Gameday(on_event=...)`), outside the runner itself.

`phase_file_listener` appends each event's kind to a file, one line per event, one write per
line (appends of concurrent gamedays never interleave): how a supervisor, or a test that
interrupts a run at a phase (tests/test_nothing_left_behind.py), knows where a run is. The
executor installs it when `GAMEDAY_PHASE_FILE` names a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.result import Event

PHASE_FILE_ENV = "GAMEDAY_PHASE_FILE"
EventListener = Callable[[Event], None]


def phase_file_listener(path: str | None = None) -> EventListener | None:
    """A listener writing to `path` (default: the file `GAMEDAY_PHASE_FILE` names), or None."""
    target = path or os.environ.get(PHASE_FILE_ENV)
    if not target:
        return None

    def write(event: Event) -> None:
        try:
            with open(target, "a", encoding="utf-8") as f:
                f.write(event.kind + "\n")
        except OSError:
            pass  # a courtesy to whoever watches: the gameday goes on

    return write
