"""Fault hooks, mounted only when TESTGEN_CHAOS_HOOKS=1 (otherwise the routes do not exist).

`POST /_chaos/memory {"mb": N, "step_mb": S, "interval_ms": I}` makes a background thread
allocate real, touched memory (every page written) S MiB at a time, one step every I ms,
until N MiB are held: under a cgroup memory limit this ends in a genuine kernel OOM kill.
`GET /_chaos/memory` reports progress; `DELETE /_chaos/memory` frees everything.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .log import kv

MiB = 1024 * 1024
MAX_MB = 1024 * 1024  # 1 TiB: a sanity bound on the request, the cgroup is the real one


class MemoryHog:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._target_mb = 0
        self._step_mb = 16
        self._interval = 0.05
        self._thread: threading.Thread | None = None

    @property
    def held_mb(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._chunks) // MiB

    def status(self) -> dict[str, Any]:
        running = self._thread is not None and self._thread.is_alive()
        return {"held_mb": self.held_mb, "target_mb": self._target_mb, "running": running}

    def start(self, mb: int, step_mb: int, interval_ms: int) -> None:
        with self._lock:
            self._target_mb, self._step_mb = mb, step_mb
            self._interval = interval_ms / 1000.0
            while self._chunks and sum(len(c) for c in self._chunks) // MiB > mb:
                self._chunks.pop()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="chaos-memory",
                                                 daemon=True)
                self._thread.start()
        self._wake.set()

    def free(self) -> int:
        with self._lock:
            freed = sum(len(c) for c in self._chunks) // MiB
            self._target_mb = 0
            self._chunks.clear()
        self._wake.set()
        return freed

    def _run(self) -> None:
        while True:
            with self._lock:
                held = sum(len(c) for c in self._chunks)
                missing = self._target_mb * MiB - held
                if missing <= 0:
                    self._thread = None
                    return
                size = min(self._step_mb * MiB, missing)
                interval = self._interval
            # b"\xa5" * n is written byte by byte: every page is resident, not just reserved.
            chunk = b"\xa5" * size
            with self._lock:
                if self._target_mb == 0:
                    self._thread = None
                    return
                self._chunks.append(chunk)
            del chunk
            self._wake.wait(interval)
            self._wake.clear()


def _int_field(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer between {lo} and {hi}")
    return value


def routes(log: logging.Logger, hog: MemoryHog | None = None) -> list[Route]:
    """The chaos routes; `hog` holds the memory (the fake backend's holds a figure)."""
    hog = hog or MemoryHog(log)

    async def memory_start(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            mb = _int_field(body, "mb", 0, 1, MAX_MB)
            step = _int_field(body, "step_mb", 16, 1, 4096)
            interval = _int_field(body, "interval_ms", 50, 0, 60_000)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        log.warning("chaos memory assault %s", kv(mb=mb, step_mb=step, interval_ms=interval))
        hog.start(mb, step, interval)
        return JSONResponse(hog.status(), status_code=202)

    async def memory_status(request: Request) -> JSONResponse:
        return JSONResponse(hog.status())

    async def memory_free(request: Request) -> JSONResponse:
        freed = hog.free()
        log.warning("chaos memory released %s", kv(freed_mb=freed))
        return JSONResponse({"freed_mb": freed, **hog.status()})

    return [
        Route("/_chaos/memory", memory_start, methods=["POST"]),
        Route("/_chaos/memory", memory_status, methods=["GET"]),
        Route("/_chaos/memory", memory_free, methods=["DELETE"]),
    ]
