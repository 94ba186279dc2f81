"""Backport of CPython's fix for gh-103607 to the image's Python (Debian bookworm: 3.11.2).

Below 3.11.4, a socket transport paused from `Protocol.connection_made()` starts reading
anyway: the reader it scheduled at construction is added after the pause. The fault proxy
pauses each client until its upstream connection is up, so on 3.11.2 a client's first
bytes arrive before there is anywhere to send them, and the connection hangs. Loaded at
interpreter start from a `.pth` file in the app image's venv; a no-op on fixed versions.
"""

import sys

if sys.version_info < (3, 11, 4):
    from asyncio import selector_events

    def _add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        if self._closing or self._paused:
            return
        self._loop._add_reader(fd, callback, *args)

    selector_events._SelectorSocketTransport._add_reader = _add_reader
