"""CPython's fix for gh-103607, for Pythons older than 3.11.4 (e.g. Debian bookworm's 3.11.2).

There, a socket transport paused from `Protocol.connection_made()` starts reading anyway:
the reader it scheduled at construction is added after the pause. The proxy pauses each
client until its upstream is connected, so the client's first bytes would arrive with
nowhere to go and the connection would hang. A no-op on fixed versions.
"""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info < (3, 11, 4):
    from asyncio import selector_events

    def _add_reader(self: Any, fd: int, callback: Any, *args: Any) -> None:
        if self._closing or self._paused:
            return
        self._loop._add_reader(fd, callback, *args)

    selector_events._SelectorSocketTransport._add_reader = _add_reader  # type: ignore[attr-defined]
