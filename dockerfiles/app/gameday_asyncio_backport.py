"""Backport of CPython's fix for gh-103607 to the image's Python (Debian bookworm: 3.11.2).

Below 3.11.4, a socket transport paused from `Protocol.connection_made()` starts reading
anyway: the reader it scheduled at construction is added after the pause. The fault proxy
pauses each client until its upstream connection is up, so on 3.11.2 a client's first
bytes arrive before there is anywhere to send them, and the connection hangs. Loaded at
interpreter start from a `.pth` file in the app image's venv; a no-op on fixed versions.

The patch is applied when `asyncio.selector_events` is first imported, not at interpreter
start: importing asyncio costs ~40 ms of CPU, and most interpreters started in the container
never use it (the healthcheck probe, every second; the runbook's `python -c` steps).
"""

import sys


def _add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
    if self._closing or self._paused:
        return
    self._loop._add_reader(fd, callback, *args)


def _patch(module) -> None:  # type: ignore[no-untyped-def]
    module._SelectorSocketTransport._add_reader = _add_reader


class _PatchOnImport:
    """A meta path finder that wraps the loader of asyncio.selector_events, so the module is
    patched as soon as it has run, before any code can use it."""

    TARGET = "asyncio.selector_events"

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name != self.TARGET:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def patched_exec(module):  # type: ignore[no-untyped-def]
            exec_module(module)
            _patch(module)

        loader.exec_module = patched_exec  # type: ignore[method-assign]
        return spec


if sys.version_info < (3, 11, 4):
    if _PatchOnImport.TARGET in sys.modules:  # imported before this file ran
        _patch(sys.modules[_PatchOnImport.TARGET])
    else:
        sys.meta_path.insert(0, _PatchOnImport())
