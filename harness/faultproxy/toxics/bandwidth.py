"""bandwidth: let a stream through at no more than `rate` KB/s (1 KB = 1000 bytes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .base import Chunk, Emit, Toxic, ToxicContext

# Slices no longer than this much transfer time, so a slow rate still trickles steadily.
_SLICE_SECONDS = 0.1
_STALL_POLL_SECONDS = 0.1


@dataclass
class _Clock:
    next_free: float = 0.0  # when the stream may send its next byte


class Bandwidth(Toxic):
    type_name = "bandwidth"
    fields = ("rate",)
    rate: int

    def new_state(self) -> _Clock:
        return _Clock()

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        if self.rate == 0:
            # Toxiproxy stalls a stream whose rate is 0; it flows again once the toxic
            # is removed or updated.
            while ctx.active and not ctx.link.closed:
                await asyncio.sleep(_STALL_POLL_SECONDS)
            await emit(chunk.data)
            return
        bytes_per_second = self.rate * 1000
        step = max(1, int(bytes_per_second * _SLICE_SECONDS))
        clock: _Clock = ctx.state
        data = chunk.data
        for offset in range(0, len(data), step):
            piece = data[offset : offset + step]
            clock.next_free = max(clock.next_free, loop.time()) + len(piece) / bytes_per_second
            wait = clock.next_free - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await emit(piece)
