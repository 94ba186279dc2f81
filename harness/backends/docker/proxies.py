"""The fault proxy's links (compose `x-proxies`), created through its REST API.

Toxiproxy keeps no state across restarts, and the engine restarts it by itself (restart
policy), so the links are (re)populated each time its container starts: after `create`
and `start` by the stack, and on every `start` event the engine reports for it. The
links are compose's own (`0.0.0.0:15432` → `postgres:5432`): inside the stack's network
service names resolve, so nothing is rewritten.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import docker
import httpx
from docker.errors import DockerException

from harness.backends.docker import labels as lbl
from harness.compose import ProxyLink
from harness.tls import shared_context


class ProxyLinks:
    def __init__(self, links: list[ProxyLink]) -> None:
        self.body = [
            {"name": link.name, "listen": link.listen, "upstream": link.upstream, "enabled": True}
            for link in links
        ]
        self._populated: dict[str, str] = {}  # container id → StartedAt it was populated for
        self._busy: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def populated_for(self, container_id: str, started_at: str) -> bool:
        with self._lock:
            return self._populated.get(container_id) == started_at

    def populate(
        self,
        api: tuple[str, int],
        container_id: str,
        started_at: str,
        still_current: Callable[[], bool],
        timeout: float = 20.0,
    ) -> bool:
        """POST /populate until the proxy answers; False if it never did (or it restarted)."""
        key = (container_id, started_at)
        with self._lock:
            if self._populated.get(container_id) == started_at or key in self._busy:
                return True
            self._busy.add(key)
        # One client for the whole wait, with the shared TLS context: the proxy takes a
        # second or more to listen, and a client per attempt (its CA bundle loaded again,
        # ~25 ms of CPU) cost more than the proxy's own start.
        client = httpx.Client(timeout=1.0, verify=shared_context())
        try:
            deadline = time.monotonic() + timeout
            url = f"http://{api[0]}:{api[1]}/populate"
            while time.monotonic() < deadline and still_current():
                try:
                    if client.post(url, json=self.body).status_code < 300:
                        with self._lock:
                            self._populated[container_id] = started_at
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            return False
        finally:
            client.close()
            with self._lock:
                self._busy.discard(key)


class StartEvents:
    """Calls `on_start(service, container_id)` for each container of the stack the engine
    starts, including the restarts its restart policies make, and `on_event(action)` for
    every event of the stack's containers (inspections.py)."""

    def __init__(
        self,
        stack_id: str,
        on_start: Callable[[str, str], None],
        on_event: Callable[[str], None] = lambda action: None,
    ) -> None:
        self.stack_id, self.on_start, self.on_event = stack_id, on_start, on_event
        # No read timeout: the stream is idle for as long as nothing restarts.
        self._client = docker.from_env(timeout=None)
        self._stream: object | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="docker-events")
        self._subscribed = threading.Event()

    def start(self) -> StartEvents:
        self._thread.start()
        self._subscribed.wait(10)
        return self

    def _run(self) -> None:
        since = time.time()
        while not self._closed.is_set():
            try:
                stream = self._client.events(
                    decode=True,
                    since=since,
                    filters={"type": "container", "label": f"{lbl.STACK}={self.stack_id}"},
                )
                self._stream = stream
                self._subscribed.set()
                for event in stream:
                    since = float(event.get("time", since))
                    action = str(event.get("Action") or event.get("status") or "")
                    self.on_event(action)
                    attrs = (event.get("Actor") or {}).get("Attributes") or {}
                    service = attrs.get(lbl.SERVICE)
                    if service and action == "start":
                        self.on_start(service, str(event.get("id", "")))
            except (DockerException, OSError, ValueError, AttributeError):
                pass  # closed, or the engine dropped the stream: resubscribe unless closing
            self._subscribed.set()
            if not self._closed.is_set():
                time.sleep(0.2)

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        close = getattr(stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # a stream that is already gone
                close()
        self._thread.join(5)
        self._client.close()
