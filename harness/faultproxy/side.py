"""One socket of a proxied connection (the client's, or the one to the upstream): an asyncio
buffered protocol that reads into a reused buffer, takes the fast path when its stream has
no toxic, and pauses and resumes reading for flow control."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .server import Connection, Link

# Each socket reads into a buffer of its own, reused while the bytes it held were sent at
# once (the common case). It starts small, since pooled connections idle, and grows to
# more than asyncio's 256 KiB reads once a read fills it: fewer wake-ups on bulk copies.
READ_BUFFER_START_BYTES = 64 * 1024
READ_BUFFER_BYTES = 1024 * 1024
# Letting a writer buffer a read or two before it pauses its reader keeps both sockets
# busy on bulk copies.
WRITE_HIGH_WATER = 2 * READ_BUFFER_BYTES


class Side(asyncio.BufferedProtocol):
    """One socket of a connection: the client's, or the one to the upstream."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.peer: Side = self
        self.reads_into: Link | None = None  # the Link this socket's data feeds
        self.written_by: Link | None = None  # the Link that writes to this socket
        self.lost = False
        self.write_paused = False
        self._paused_for: set[str] = set()
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._read_buffer: memoryview | None = None
        self._read_buffer_size = READ_BUFFER_START_BYTES

    # -- asyncio.BufferedProtocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self._paused_for:
            self.transport.pause_reading()
        self.conn.side_made(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._read_buffer is None:
            self._read_buffer = memoryview(bytearray(self._read_buffer_size))
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        link = cast("Link", self.reads_into)
        link.received_bytes += nbytes
        buffer = cast(memoryview, self._read_buffer)
        view = buffer[:nbytes]
        if nbytes == len(buffer) and self._read_buffer_size < READ_BUFFER_BYTES:
            self._read_buffer_size = READ_BUFFER_BYTES
            self._read_buffer = None  # the next read gets the large buffer
        if link.worker is None and not link.toxics:  # the fast path
            if link.closed:
                return
            transport = link.dst.transport
            if transport is not None and not transport.is_closing():
                transport.write(view)
                link.sent_bytes += nbytes
                if transport.get_write_buffer_size():
                    # The transport kept what it could not send. Python 3.11 copies it,
                    # but later versions may keep a reference: read into a new buffer.
                    self._read_buffer = None
            return
        link.feed(bytes(view))

    def eof_received(self) -> bool:
        cast("Link", self.reads_into).feed_end()
        return True  # keep the socket: its Link decides when it closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake_drain_waiters()
        cast("Link", self.written_by).dst_lost()
        cast("Link", self.reads_into).feed_end()
        self.conn.side_lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.peer.pause_reading("peer buffer full")

    def resume_writing(self) -> None:
        self.write_paused = False
        self.peer.resume_reading("peer buffer full")
        self._wake_drain_waiters()

    # -- used by Links -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drained(self) -> None:
        """Return once this socket's write buffer is below its high-water mark."""
        if self.write_paused and not self.lost:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def pause_reading(self, reason: str) -> None:
        transport = self.transport
        if not self._paused_for and transport is not None and not transport.is_closing():
            transport.pause_reading()
        self._paused_for.add(reason)

    def resume_reading(self, reason: str) -> None:
        if reason not in self._paused_for:
            return
        self._paused_for.discard(reason)
        transport = self.transport
        if not self._paused_for and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _wake_drain_waiters(self) -> None:
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
