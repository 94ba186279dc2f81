"""The fault proxy's data path: proxies, their connections, and the toxics in between.

app (client)                                                        upstream
e.g. testgen                                              postgres / redis / llm
    |                                                                  ^
    | connect <listen>                                connect <upstream> |
    v                                                                  |
+---------+ accept +---------------------- Connection ----------------------------+
|  Proxy  |------->|                                                              |
| (listen)|        |  client Side --read--> Link "upstream"   --write--> upstream Side
+---------+        |  client Side <--write-- Link "downstream" <--read-- upstream Side
     |             +--------------------------------------------------------------+
     |  toxics = {"upstream": [...], "downstream": [...]}   <-- changed by the REST API
     v
Each Link, for every chunk read from its source socket:
  no toxic on its stream, nothing queued  -> fast path: destination.write(chunk)
  otherwise  -> queue -> one worker task -> toxic 1 -> toxic 2 -> ... -> destination
             (the worker takes the stream's CURRENT toxic list for each chunk, so a
              toxic added or removed takes effect on connections already open)
A source's close takes the same road (`toxic.end`: slow_close waits there); then the
Link closes its destination, the other Link sees that socket go and closes the other
one. As in Toxiproxy there is no half-close: either side closing ends the connection.
A reset (reset_peer) aborts BOTH sockets with SO_LINGER 0, so the client and the
upstream each read ECONNRESET, as Toxiproxy's links do.

Each Link counts the bytes it reads and writes (one addition per chunk); `/metrics`
reports them per proxy and direction when the server runs with `-proxy-metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

import harness.faultproxy._asyncio_compat  # noqa: F401  (before any transport exists)

from . import errors
from .addresses import bind_listener, format_address, split_address
from .side import Side
from .toxics import Chunk, Toxic, ToxicContext

log = logging.getLogger("harness.faultproxy")

STREAMS = ("upstream", "downstream")

# Toxics that hold data (latency, bandwidth) queue what is read; past this, stop reading.
QUEUE_HIGH_WATER = 1024 * 1024
QUEUE_LOW_WATER = QUEUE_HIGH_WATER // 4
CONNECT_TIMEOUT_SECONDS = 10.0
# SO_LINGER on, 0 seconds: close() discards unsent data and sends RST instead of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclass(eq=False)
class ToxicEntry:
    """A toxic as configured on a proxy (Toxiproxy's ToxicWrapper)."""

    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.toxic.attributes(),
        }


def _applies(toxicity: float) -> bool:
    """Toxiproxy's per-connection dice: does this toxic touch this connection?"""
    return toxicity >= 1.0 or random.random() < toxicity


@dataclass(eq=False)
class _Run:
    """One toxic applied (or, by the dice, not) to one Link."""

    toxic: Toxic
    toxicity: float
    applies: bool
    ctx: ToxicContext

    def finish(self, removed: bool) -> None:
        if self.applies:
            self.toxic.stop(self.ctx, removed)
        self.ctx.deactivate()


class Link:
    """One stream of one connection: bytes read from `src` go to `dst` via the toxics."""

    def __init__(self, conn: Connection, stream: str, src: Side, dst: Side) -> None:
        self.conn = conn
        self.stream = stream
        self.src = src
        self.dst = dst
        # The proxy's own list, changed in place by the API: one truthiness test per
        # chunk is all the fast path pays for toxics.
        self.toxics: list[ToxicEntry] = conn.proxy.toxics[stream]
        self.worker: asyncio.Task[None] | None = None
        self._closed = False  # nothing more will be written to dst
        self._ended = False  # the source has closed
        self._loop = asyncio.get_running_loop()
        self._queue: deque[tuple[bytes, float] | None] = deque()  # None: the source closed
        self._queued_bytes = 0
        self._runs: dict[ToxicEntry, _Run] = {}
        # Toxiproxy's metric labels, fixed when the connection starts.
        self.labels = (stream, conn.proxy.name, conn.proxy.listen, conn.proxy.upstream)
        self.received_bytes = 0
        self.sent_bytes = 0

    @property
    def closed(self) -> bool:
        return self._closed

    # -- data from the source ----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.worker is None and not self.toxics:
            if not self._closed:
                self.dst.write(data)
                self.sent_bytes += len(data)
            return
        if self._closed:
            return
        self._queue.append((data, self._loop.time()))
        self._queued_bytes += len(data)
        if self._queued_bytes > QUEUE_HIGH_WATER:
            self.src.pause_reading("toxic queue full")
        self._ensure_worker()

    def feed_end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._closed:
            return
        if self.worker is None and not self.toxics:
            self.close()
            return
        self._queue.append(None)
        self._ensure_worker()

    def dst_lost(self) -> None:
        self._stop_flow()

    # -- what toxics may do (toxics.Link) ----------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._stop_flow()
        transport = self.dst.transport
        if transport is not None:
            transport.close()  # flushes what is already written, then FIN

    def reset(self) -> None:
        if self._closed:
            return
        self.conn.reset()

    # -- toxics coming and going -------------------------------------------------------

    def sync_toxics(self) -> None:
        """Start and stop this Link's toxic runs to match its stream's current list."""
        current = set(self.toxics)
        for entry, run in list(self._runs.items()):
            if entry in current and run.toxic is entry.toxic:
                continue
            del self._runs[entry]
            removed = entry not in current
            run.finish(removed)
            if not removed:  # updated: same connection state, same dice unless re-weighted
                same_odds = run.toxicity == entry.toxicity
                self._start_run(
                    entry, run.applies if same_odds else _applies(entry.toxicity), run.ctx.state
                )
        for entry in self.toxics:
            if entry not in self._runs:
                self._start_run(entry, _applies(entry.toxicity), entry.toxic.new_state())

    def _start_run(self, entry: ToxicEntry, applies: bool, state: Any) -> None:
        run = _Run(entry.toxic, entry.toxicity, applies, ToxicContext(self, state))
        self._runs[entry] = run
        if applies and not self._closed:
            entry.toxic.start(run.ctx)

    def shutdown(self) -> None:
        """The connection is gone: stop timers and the worker."""
        self._stop_flow()
        for run in self._runs.values():
            run.ctx.deactivate()
        self._runs.clear()
        worker = self.worker
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()

    # -- the slow path -----------------------------------------------------------------

    def _stop_flow(self) -> None:
        self._closed = True
        self._queue.clear()
        self._queued_bytes = 0

    def _ensure_worker(self) -> None:
        if self.worker is None:
            self.worker = self._loop.create_task(self._work())

    def _chain(self) -> list[_Run]:
        runs = self._runs
        chain = []
        for entry in self.toxics:
            run = runs.get(entry)
            if run is not None and run.applies:
                chain.append(run)
        return chain

    async def _work(self) -> None:
        try:
            # Bounded by the queue: the worker exits as soon as it is empty, and the fast
            # path resumes once the stream has no toxics.
            while self._queue and not self._closed:
                item = self._queue.popleft()
                if item is None:
                    for run in self._chain():
                        if self._closed:
                            break
                        await run.toxic.end(run.ctx)
                    self.close()
                    break
                data, arrival = item
                self._queued_bytes -= len(data)
                if self._queued_bytes <= QUEUE_LOW_WATER:
                    self.src.resume_reading("toxic queue full")
                await self._through(self._chain(), 0, Chunk(data, arrival))
        except Exception:
            # A toxic's bug must cost one connection, not the server.
            log.exception("proxy %s: %s stream failed", self.conn.proxy.name, self.stream)
            self.conn.abort()
        finally:
            self.worker = None

    async def _through(self, chain: list[_Run], index: int, chunk: Chunk) -> None:
        if self._closed:
            return
        if index == len(chain):
            self.dst.write(chunk.data)
            self.sent_bytes += len(chunk.data)
            await self.dst.drained()
            return
        run = chain[index]

        async def emit(data: bytes) -> None:
            await self._through(chain, index + 1, Chunk(data, chunk.arrival))

        await run.toxic.pipe(chunk, run.ctx, emit)


class Connection:
    """A client accepted by a proxy, and its connection to the upstream."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.client = Side(self)
        self.upstream = Side(self)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        self.links = {
            "upstream": Link(self, "upstream", self.client, self.upstream),
            "downstream": Link(self, "downstream", self.upstream, self.client),
        }
        for link in self.links.values():
            link.src.reads_into = link
            link.dst.written_by = link
        self._connecting: asyncio.Task[None] | None = None
        self._connect_pending = False
        self._finished = False

    def side_made(self, side: Side) -> None:
        if side is not self.client:
            return
        self.client.pause_reading("connecting upstream")
        self.proxy.connections.add(self)
        for link in self.links.values():
            link.sync_toxics()
        self._connect_pending = True
        self._connecting = asyncio.get_running_loop().create_task(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_address(self.proxy.upstream)
            await asyncio.wait_for(
                loop.create_connection(lambda: self.upstream, host, port),
                CONNECT_TIMEOUT_SECONDS,
            )
        except (OSError, ValueError, TimeoutError) as exc:
            log.warning(
                "proxy %s: upstream %s unreachable: %s", self.proxy.name, self.proxy.upstream, exc
            )
            self.abort()
            return
        finally:
            self._connect_pending = False
            self.side_lost()  # the client may have gone while we were connecting
        if self.client.lost or self._finished:
            self.abort()
            return
        self.client.resume_reading("connecting upstream")

    def reset(self) -> None:
        """Abort both sockets with a TCP RST (SO_LINGER 0): unsent data is discarded and
        each peer reads "connection reset by peer" (Toxiproxy's reset_peer)."""
        for link in self.links.values():
            link._stop_flow()
        for side in (self.client, self.upstream):
            transport = side.transport
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()

    def abort(self) -> None:
        """Drop both sockets now (the proxy was disabled, deleted or shut down)."""
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()
        task = self._connecting
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if self.upstream.transport is None:
            self.upstream.lost = True
        self.side_lost()

    def side_lost(self) -> None:
        if self._connect_pending:
            return  # the connect task settles the upstream side when it lands
        if self.client.lost and (self.upstream.lost or self.upstream.transport is None):
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.proxy.connections.discard(self)
        for link in self.links.values():
            link.shutdown()
            self.proxy.count_bytes(link.labels, link.received_bytes, link.sent_bytes)


class Proxy:
    """One listening address forwarding to one upstream, with its toxics."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, list[ToxicEntry]] = {stream: [] for stream in STREAMS}
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        # (direction, proxy, listener, upstream) -> [received, sent] of finished links.
        self.finished_bytes: dict[tuple[str, str, str, str], list[int]] = {}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [entry.to_json() for entry in self.all_toxics()],
        }

    def count_bytes(self, labels: tuple[str, str, str, str], received: int, sent: int) -> None:
        counts = self.finished_bytes.setdefault(labels, [0, 0])
        counts[0] += received
        counts[1] += sent

    def byte_counts(self) -> dict[tuple[str, str, str, str], list[int]]:
        """Bytes received and sent per label set: finished links plus open ones."""
        counts = {labels: list(pair) for labels, pair in self.finished_bytes.items()}
        for conn in self.connections:
            for link in conn.links.values():
                pair = counts.setdefault(link.labels, [0, 0])
                pair[0] += link.received_bytes
                pair[1] += link.sent_bytes
        return counts

    # -- listening ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; the reported `listen` becomes the bound address (port 0 resolved)."""
        if self.enabled:
            return
        # Toxiproxy reports a listen failure as a plain error, hence 500, worded as Go's.
        try:
            sock = bind_listener(self.listen)
        except ValueError as exc:
            raise errors.ApiError(f"listen tcp: {exc}", 500) from exc
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise errors.ApiError(f"listen tcp {self.listen}: bind: {reason}", 500) from exc
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Connection(self).client, sock=sock
        )
        self.listen = format_address(sock.getsockname())
        self.enabled = True

    def stop(self) -> None:
        """Close the listener and drop every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.enabled = False
        for conn in list(self.connections):
            conn.abort()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled and self.enabled:
            self.stop()

    # -- toxics ------------------------------------------------------------------------

    def all_toxics(self) -> list[ToxicEntry]:
        return [entry for stream in STREAMS for entry in self.toxics[stream]]

    def find_toxic(self, name: str) -> ToxicEntry | None:
        return next((entry for entry in self.all_toxics() if entry.name == name), None)

    def add_toxic(self, entry: ToxicEntry) -> None:
        if self.find_toxic(entry.name) is not None:
            raise errors.TOXIC_ALREADY_EXISTS
        self.toxics[entry.stream].append(entry)
        self._toxics_changed(entry.stream)

    def update_toxic(self, entry: ToxicEntry, toxic: Toxic, toxicity: float) -> None:
        entry.toxic, entry.toxicity = toxic, toxicity
        self._toxics_changed(entry.stream)

    def remove_toxic(self, name: str) -> None:
        entry = self.find_toxic(name)
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        self.toxics[entry.stream].remove(entry)
        self._toxics_changed(entry.stream)

    def reset_toxics(self) -> None:
        for stream in STREAMS:
            if self.toxics[stream]:
                self.toxics[stream].clear()
                self._toxics_changed(stream)

    def _toxics_changed(self, stream: str) -> None:
        for conn in list(self.connections):
            conn.links[stream].sync_toxics()


class ProxyCollection:
    """Every proxy of one server, by name (Toxiproxy's ProxyCollection)."""

    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}
        # Byte counts of deleted or replaced proxies: Prometheus counters never go back.
        self.retired_bytes: dict[tuple[str, str, str, str], list[int]] = {}

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    async def add(self, proxy: Proxy, start: bool) -> None:
        if proxy.name in self.proxies:
            raise errors.PROXY_ALREADY_EXISTS
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy

    async def add_or_replace(self, proxy: Proxy, start: bool) -> Proxy:
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if existing.listen == proxy.listen and existing.upstream == proxy.upstream:
                return existing
            existing.stop()
            self._retire(existing)
            del self.proxies[proxy.name]
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    def remove(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        self._retire(proxy)
        del self.proxies[name]

    def _retire(self, proxy: Proxy) -> None:
        for labels, (received, sent) in proxy.byte_counts().items():
            counts = self.retired_bytes.setdefault(labels, [0, 0])
            counts[0] += received
            counts[1] += sent

    def byte_counts(self) -> dict[tuple[str, str, str, str], list[int]]:
        """Bytes received and sent per (direction, proxy, listener, upstream), ever."""
        counts = {labels: list(pair) for labels, pair in self.retired_bytes.items()}
        for proxy in self.proxies.values():
            for labels, (received, sent) in proxy.byte_counts().items():
                pair = counts.setdefault(labels, [0, 0])
                pair[0] += received
                pair[1] += sent
        return counts

    async def reset(self) -> None:
        """Re-enable every proxy and remove every toxic (`POST /reset`)."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            proxy.reset_toxics()

    def shutdown(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
