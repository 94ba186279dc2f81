"""Container inspections shared by the stack's readers until the engine says something changed.

During a gameday every reader of `stack.containers()` (the command bridge's `docker ps`,
`docker logs` and `docker-compose ps`, the hold's restart watch, the machine sampler, the
probes) inspected every container of the stack: ~35 inspections a second for one gameday,
each ~1 ms of CPU between the harness and the engine (docs/performance.md, "The docker
lane", session 3). A container's inspect document changes only when its state does, and
the engine reports every such change as an event (start, die, kill, oom, restart, stop,
health_status, …; not the exec_* events, which change nothing in it). So a reading is
reused while no event of the stack has arrived since it was taken, the stack itself has
done nothing to a container (create, start, stop, kill, crash, remove: `changed()`), and it
is younger than MAX_AGE, which bounds how old an answer can be if the event stream lags or
drops. A reading that was in flight when an event arrived is not reused.
"""

from __future__ import annotations

import threading
import time
from typing import Any

# Seconds: the oldest reading handed out, whatever the events say. Every change of a
# container's inspect document comes with an event (which outdates the readings at once),
# so this bounds only a lagging or dropped event stream (the stream resubscribes from its
# last event). At 0.25 s the readers of a polled `docker ps` still cost ~10 CPU-s a lane
# (harness and engine); at 1 s a quarter of that (docs/performance.md, session 4).
MAX_AGE = 1.0


class Inspections:
    """`inspect(id)`: the engine's inspect document, or a reading no event has outdated."""

    def __init__(self, api: Any, max_age: float = MAX_AGE) -> None:
        self._api = api
        self._max_age = max_age
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every change: readings of an older one are stale
        self._readings: dict[str, tuple[float, int, dict[str, Any]]] = {}

    def changed(self) -> None:
        """Something may have changed a container of the stack: no reading is reused."""
        with self._lock:
            self._generation += 1
            self._readings.clear()

    def on_event(self, action: str) -> None:
        """An engine event of one of the stack's containers (its Action)."""
        if not action.startswith("exec_"):
            self.changed()

    def inspect(self, container_id: str) -> dict[str, Any]:
        """NotFound (docker.errors) as the engine's inspect raises it; never cached."""
        now = time.monotonic()
        with self._lock:
            generation = self._generation
            reading = self._readings.get(container_id)
        if reading is not None:
            taken_at, taken_in, attrs = reading
            if taken_in == generation and now - taken_at < self._max_age:
                return attrs
        attrs = self._api.inspect_container(container_id)
        with self._lock:
            if self._generation == generation:  # no change while it was in flight
                self._readings[container_id] = (now, generation, attrs)
        return attrs
