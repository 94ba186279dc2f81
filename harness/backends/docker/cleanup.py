"""Nothing outlives a stack: its containers, network and volumes are removed on close,
at interpreter exit, on SIGTERM/SIGHUP, and (through `reaper.py`) when the harness
process is killed outright. Whatever still escapes (the machine lost power, the reaper
was killed too) is swept at the next stack's start: resources labelled by a harness
process on this host that no longer exists.

    close() ──▶ remove_stack(id)          atexit / SIGTERM / SIGHUP ──▶ close() every live stack
    reaper (own session) ── parent gone ──▶ remove_stack(id)
    next DockerStack() ──▶ sweep_dead_stacks(): owners on this host that are gone
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

import docker
from docker.errors import APIError, NotFound

from harness.backends.docker import enginehost
from harness.backends.docker import labels as lbl


def remove_stack(client: docker.DockerClient, stack_id: str | None) -> list[str]:
    """Force-remove every container, then network and volume, labelled with stack_id (or,
    with None, every gameday resource). Returns what was removed, for the record."""
    flt = lbl.stack_filter(stack_id)
    removed: list[str] = []
    # A remote engine's helper deletes the stack's egress rule when stopped, not when killed.
    enginehost.stop_helpers(client, flt)
    # The low-level list: the high-level one inspects each container, and one that another
    # remover (the reaper, a concurrent sweep) takes away meanwhile would raise NotFound.
    containers = client.api.containers(all=True, filters=flt)
    threads = [
        threading.Thread(target=_remove_container, args=(client, c, removed)) for c in containers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for network in client.networks.list(filters=flt):
        with contextlib.suppress(NotFound, APIError):
            network.remove()
            removed.append(f"network {network.name}")
    for volume in client.volumes.list(filters=flt):
        with contextlib.suppress(NotFound, APIError):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
    return removed


def left_of(client: docker.DockerClient, stack_id: str) -> list[str]:
    """What the engine still has of the stack (its helpers are containers too)."""
    return engine_resources(client, lbl.stack_filter(stack_id))


def engine_resources(client: docker.DockerClient, flt: dict[str, list[str]]) -> list[str]:
    """Containers, networks and volumes the label filter matches, named for a person."""
    return [
        *(f"container {(c.get('Names') or ['?'])[0].lstrip('/')}"
          for c in client.api.containers(all=True, filters=flt)),
        *(f"network {n['Name']}" for n in client.api.networks(filters=flt)),
        *(f"volume {v['Name']}"
          for v in (client.api.volumes(filters=flt) or {}).get("Volumes") or []),
    ]  # fmt: skip


def _remove_container(
    client: docker.DockerClient, entry: dict[str, Any], removed: list[str]
) -> None:
    name = ((entry.get("Names") or ["?"])[0]).lstrip("/")
    with contextlib.suppress(NotFound):
        try:
            # v: the images' anonymous volumes too
            client.api.remove_container(entry["Id"], force=True, v=True)
        except APIError as exc:
            if "already in progress" not in str(exc):
                raise
        removed.append(f"container {name}")


def live_stack_ids(client: docker.DockerClient) -> set[str]:
    """Stacks that still have a network on the engine."""
    return {
        (n.attrs.get("Labels") or {}).get(lbl.STACK, "")
        for n in client.networks.list(filters=lbl.stack_filter())
    } - {""}


def sweep_dead_stacks(client: docker.DockerClient) -> list[str]:
    """Remove the resources of stacks whose harness process on this host is gone."""
    dead: set[str] = set()
    seen: dict[str, bool | None] = {}
    flt = lbl.stack_filter()
    resources: list[dict[str, str]] = [
        *((c.get("Labels") or {}) for c in client.api.containers(all=True, filters=flt)),
        *((n.attrs.get("Labels") or {}) for n in client.networks.list(filters=flt)),
        *((v.attrs.get("Labels") or {}) for v in client.volumes.list(filters=flt)),
    ]
    for labels in resources:
        owner, stack_id = labels.get(lbl.OWNER, ""), labels.get(lbl.STACK, "")
        if owner not in seen:
            seen[owner] = lbl.owner_alive(owner)
        if seen[owner] is False and stack_id:
            dead.add(stack_id)
    removed = []
    for stack_id in sorted(dead):
        removed += remove_stack(client, stack_id)
    return removed


class Closable(Protocol):
    def close(self) -> None: ...


_live: weakref.WeakSet[Closable] = weakref.WeakSet()
_installed = False
_previous: dict[int, Any] = {}
_GUARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def guard(stack: Closable) -> None:
    """Close `stack` at interpreter exit and on SIGTERM/SIGHUP (Ctrl-C raises
    KeyboardInterrupt, which unwinds through the stack's `with` block or fixture)."""
    global _installed
    _live.add(stack)
    if _installed:
        return
    _installed = True
    atexit.register(close_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still holds
    for signum in _GUARDED_SIGNALS:
        _previous[signum] = signal.getsignal(signum)
        signal.signal(signum, _on_signal)


def unguard(stack: Closable) -> None:
    _live.discard(stack)


def close_all() -> None:
    for stack in list(_live):
        with contextlib.suppress(Exception):
            stack.close()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    close_all()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        handler: Callable[[int, FrameType | None], Any] = previous
        handler(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # The default action (terminate): restore it and let the signal do what it would have.
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
