"""latency: hold each chunk `latency` ms (± `jitter` ms) after the proxy read it."""

from __future__ import annotations

import asyncio
import random

from .base import Chunk, Emit, Toxic, ToxicContext


class Latency(Toxic):
    type_name = "latency"
    fields = ("latency", "jitter")
    latency: int
    jitter: int

    def delay(self) -> float:
        milliseconds = self.latency
        if self.jitter > 0:
            milliseconds += random.randrange(-self.jitter, self.jitter)
        return milliseconds / 1000

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        # Counted from the chunk's arrival, not from when it reached this toxic, so that
        # back-to-back chunks are delayed once each instead of queueing behind each other.
        wait = chunk.arrival + self.delay() - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        await emit(chunk.data)
