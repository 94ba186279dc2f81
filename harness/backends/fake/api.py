"""The fake stack's TestGen API: the reference service's own application
(`harness/services/testgen/app.py`), served in this process.

    http.server thread ──ASGI scope──▶ event loop thread: Instrument(Starlette(routes))
                                          ├─ Cache: redis-py ──▶ fake Redis (through the links)
                                          ├─ LLM: httpx ────────▶ mock LLM (through the links)
                                          └─ JobStore ──────────▶ FakeJobStore (below)

Its routes, request flow, rate limit, cache, LLM fallback, metrics and log lines are the
service's own, so the fake cannot drift from it. The fake supplies only what a process has
and an in-memory stack does not:

- PostgreSQL: the jobs live in the stack's named volume; each operation first reaches the
  fake PostgreSQL the way libpq would (its first exchange, through the fault proxy's
  links), so a stopped database or a cut link fails the request as it does for real.
- memory: the chaos hook and the hot cache hold a figure, not memory; the stack compares it
  with `mem_limit` (and OOM-kills, as the kernel would). `process_resident_memory_bytes`
  reports that figure instead of this test process's own.
- the process: `start` serves the app (its lifespan runs), `stop` drops every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from starlette.applications import Starlette

from harness.backends.fake.servers import (
    Log,
    Resolve,
    Service,
    _Handler,
    _HTTPServer,
    _Tracking,
    pg_ping,
)
from harness.services.testgen import app as testgen_app
from harness.services.testgen import chaos
from harness.services.testgen.config import Config
from harness.services.testgen.log import LineFormatter
from harness.services.testgen.metrics import Instrument
from harness.services.testgen.store import GETCONN_TIMEOUT, DatabaseError, Job

BASE_RSS = 48 << 20  # what the service holds at rest, before any chaos
REQUEST_TIMEOUT_S = 60.0  # a request the loop never answers (a stopped stack) gives up
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379,
                  "http": 80, "https": 443}  # fmt: skip


def resolved(url: str, resolve: Resolve) -> str:
    """`url` with its host:port as the stack's service DNS resolves it (userinfo kept)."""
    if not url:
        return url
    parts = urlsplit(url)
    host, port = resolve(parts.hostname or "localhost", parts.port or _DEFAULT_PORTS.get(
        parts.scheme, 80))  # fmt: skip
    userinfo = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=(userinfo + "@" if userinfo else "") + f"{host}:{port}").geturl()


class FakeJobStore:
    """`JobStore`'s interface over the volume's jobs; PostgreSQL is reached for each call."""

    def __init__(self, address: tuple[str, int], jobs: Callable[[], dict[str, dict[str, Any]]]):
        self.address, self.jobs = address, jobs

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def _reach(self, timeout: float) -> None:
        try:
            await asyncio.to_thread(pg_ping, self.address, timeout)
        except TimeoutError:
            raise DatabaseError(f"no answer within {timeout:.1f}s") from None
        except OSError as exc:  # libpq's words: the cause, without the errno
            raise DatabaseError(exc.strerror or str(exc) or type(exc).__name__) from None

    async def ping(self, timeout: float) -> None:
        await self._reach(timeout)

    async def insert(
        self, job_id: str, language: str, source_sha: str, tests: str, provider: str
    ) -> None:
        await self._reach(GETCONN_TIMEOUT)
        self.jobs()[job_id] = {
            "id": job_id, "language": language, "content_hash": source_sha, "tests": tests,
            "provider": provider, "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }  # fmt: skip

    async def get(self, job_id: str) -> Job | None:
        await self._reach(GETCONN_TIMEOUT)
        row = self.jobs().get(job_id)
        if row is None:
            return None
        created = dt.datetime.fromisoformat(row.get("created_at") or "1970-01-01T00:00:00+00:00")
        return Job(row["id"], row["language"], row["content_hash"], row["tests"],
                   row["provider"], created)  # fmt: skip


class FigureHog(chaos.MemoryHog):
    """The chaos memory hook's steps, holding a figure (`held`) instead of pages."""

    def __init__(self, log: logging.Logger, on_change: Callable[[], None]) -> None:
        super().__init__(log)
        self.held, self.on_change = 0, on_change

    @property
    def held_mb(self) -> int:
        return self.held // chaos.MiB

    def reset(self) -> None:
        with self._lock:
            self.held, self._target_mb = 0, 0
        self._wake.set()

    def free(self) -> int:
        with self._lock:
            freed, self.held, self._target_mb = self.held_mb, 0, 0
        self._wake.set()
        self.on_change()
        return freed

    def _run(self) -> None:
        while True:
            with self._lock:
                missing = self._target_mb * chaos.MiB - self.held
                if missing <= 0 or self._target_mb == 0:
                    self._thread = None
                    return
                self.held += min(self._step_mb * chaos.MiB, missing)
                interval = self._interval
            self.on_change()
            self._wake.wait(interval)
            self._wake.clear()


class HotCache(dict[str, dict[str, Any]]):
    """The cache-bloat hook's in-process copies, counted by size as they are kept."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        super().__init__()
        self.bytes, self.on_change = 0, on_change

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        if key not in self:
            self.bytes += len(str(value.get("tests", ""))) + len(key)
        super().__setitem__(key, value)
        self.on_change()


class _FigureCollector:
    """`process_resident_memory_bytes` as the figure the stack holds for this process."""

    def __init__(self, held: Callable[[], int]) -> None:
        self.held = held

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.",
                                value=BASE_RSS + self.held())  # fmt: skip


class _LogLines(logging.Handler):
    """The service's log lines (its own format and secret scrubbing) into the container's log."""

    def __init__(self, log: Log, secrets: list[str]) -> None:
        super().__init__()
        self.log, self.line = log, LineFormatter(secrets)

    def emit(self, record: logging.LogRecord) -> None:
        self.log(record.levelname, self.line.format(record).split(" ", 2)[2])


class TestGenApi(Service):
    """The reference service's app as one fake container's server. It refuses to start
    without a required variable (`Config.from_env`: the container exits by itself)."""

    __test__ = False  # not a pytest class, whatever its name says

    def __init__(self, port: int, log: Log, env: dict[str, str], resolve: Resolve,
                 jobs: Callable[[], dict[str, dict[str, Any]]],
                 on_memory: Callable[[int], None] = lambda held: None) -> None:  # fmt: skip
        super().__init__(port, log)
        config = Config.from_env(env)  # ConfigError: the container refuses to start
        self.config = dataclasses.replace(  # every address as the stack's DNS resolves it
            config,
            database_url=resolved(config.database_url, resolve),
            redis_url=resolved(config.redis_url, resolve),
            openai_api_base=resolved(config.openai_api_base, resolve),
            anthropic_api_base=resolved(config.anthropic_api_base, resolve),
            ollama_base_url=resolved(config.ollama_base_url, resolve),
        )
        self.on_memory = on_memory
        self.logger = logging.getLogger(f"testgen.fake.{port}.{id(self):x}")
        self.logger.propagate, self.logger.level = False, logging.INFO
        self.logger.handlers = [_LogLines(log, config.secrets())]
        self.service = testgen_app.Service(self.config, self.logger)
        address = urlsplit(self.config.database_url)
        self.service.store = FakeJobStore(  # type: ignore[assignment]
            (address.hostname or "127.0.0.1", address.port or 5432), jobs
        )
        self.hog = FigureHog(self.logger, self._memory_changed)
        self.hot = HotCache(self._memory_changed)
        if self.service.hot_cache is not None:
            self.service.hot_cache = self.hot
        self._figure_memory()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def _figure_memory(self) -> None:
        registry = self.service.metrics.registry
        # prometheus_client keeps no handle on the collector Metrics() registered: find it.
        for collector in list(registry._collector_to_names):  # noqa: SLF001
            if isinstance(collector, ProcessCollector):
                registry.unregister(collector)
        registry.register(_FigureCollector(lambda: self.held_bytes))

    @property
    def held_bytes(self) -> int:
        return self.hog.held + self.hot.bytes

    def _memory_changed(self) -> None:
        self.on_memory(self.held_bytes)

    def _app(self) -> Any:
        routes = [r for r in self.service.routes() if not r.path.startswith("/_chaos")]
        if self.config.chaos_hooks:
            routes += chaos.routes(self.logger, self.hog)
        return Instrument(Starlette(routes=routes), self.service.metrics, self.logger)

    def _make_server(self) -> _Tracking:
        return _HTTPServer(("127.0.0.1", self.port), _Handler, self)

    def start(self) -> None:
        # Nothing here waits on the loop: the service logs from it, and the stack may hold
        # the lock its log takes while it starts or stops this container.
        self.asgi = self._app()
        loop = self.loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True,
                         name=f"fake-testgen-{self.port}").start()  # fmt: skip
        lifespan = self.service.lifespan(self.asgi)
        self._stopping = asyncio.Event()
        asyncio.run_coroutine_threadsafe(self._serve(lifespan, self._stopping), loop)
        super().start()

    async def _serve(
        self, lifespan: contextlib.AbstractAsyncContextManager[None], stop: asyncio.Event
    ) -> None:
        """The app's lifespan (startup, shutdown) around the time it serves; then the loop ends."""
        try:
            async with lifespan:
                await stop.wait()
        finally:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)

    def stop(self) -> None:
        super().stop()  # no new request; every connection dropped
        loop, self.loop = self.loop, None
        if loop is not None and self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        self.hog.reset()  # a dead process holds nothing (the stack is told by its own kill)

    def _call(self, coro: Any, timeout: float = REQUEST_TIMEOUT_S) -> Any:
        assert self.loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=timeout)

    def handle(self, h: _Handler, method: str, path: str) -> None:
        """One HTTP request through the app (ASGI), answered on the handler's socket."""
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        target, _, query = h.path.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": target, "raw_path": target.encode(),
            "query_string": query.encode(), "root_path": "",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in h.headers.items()],
            "client": h.client_address[:2], "server": ("127.0.0.1", self.port),
        }  # fmt: skip
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects early here
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            self._call(self.asgi(scope, receive, send))
        except Exception:  # noqa: BLE001 - a stopped loop or a crash: the connection drops
            h.close_connection = True
            return
        start = next(m for m in sent if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        h.send_response(int(start["status"]))
        for key, value in start.get("headers", []):
            if key.lower() != b"content-length":
                h.send_header(key.decode("latin-1"), value.decode("latin-1"))
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
