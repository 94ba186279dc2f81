"""The fake stack's fault proxy: the project's own Toxiproxy (`harness.faultproxy`) in this
process, on an event loop in a thread of its own, logging into its container's log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from harness.backends.fake.servers import Log


class _ProxyLog(logging.Handler):
    """The fault proxy's log records into the container log of the proxy that wrote them
    (each in-process proxy runs on a thread of its own), not onto the harness's stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.by_thread: dict[str, Log] = {}

    def emit(self, record: logging.LogRecord) -> None:
        log = self.by_thread.get(threading.current_thread().name)
        if log is not None:
            log(record.levelname, record.getMessage())


_PROXY_LOG = _ProxyLog()
logging.getLogger("harness.faultproxy").addHandler(_PROXY_LOG)


class FaultProxy:
    """The project's own Toxiproxy (`harness.faultproxy`) run on an event loop in a thread:
    its REST API and its links are real, so network faults act on real connections."""

    def __init__(self, port: int, links: list[tuple[str, int, tuple[str, int]]], log: Log) -> None:
        self.port, self.links, self.log = port, links, log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        from harness.faultproxy.api import ApiServer
        from harness.faultproxy.server import Proxy, ProxyCollection

        self._ready.clear()
        self._error = None

        async def main() -> None:
            collection = ProxyCollection()
            api = ApiServer(collection)
            self._stop = asyncio.Event()
            try:
                server = await api.start("127.0.0.1", self.port)
                for name, listen, (host, port) in self.links:  # no state across restarts
                    await collection.add(Proxy(name, f"127.0.0.1:{listen}", f"{host}:{port}"), True)
            except BaseException as exc:
                collection.shutdown()
                self._error = exc
                self._ready.set()
                raise
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                server.close()
                api.close_connections()
                collection.shutdown()
                await server.wait_closed()
                await asyncio.sleep(0)

        def run() -> None:
            _PROXY_LOG.by_thread[threading.current_thread().name] = self.log
            loop = asyncio.new_event_loop()
            self._loop = loop
            with contextlib.suppress(BaseException):
                loop.run_until_complete(main())
            loop.close()
            _PROXY_LOG.by_thread.pop(threading.current_thread().name, None)

        self._thread = threading.Thread(target=run, daemon=True, name=f"fake-proxy-{self.port}")
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise OSError(f"fault proxy cannot listen: {self._error}")

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = self._stop = self._thread = None

    def healthy(self) -> bool:
        return self._ready.is_set() and self._error is None and self._thread is not None
