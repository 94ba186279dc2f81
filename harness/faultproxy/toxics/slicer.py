"""slicer: cut each chunk into pieces of about `average_size` ± `size_variation` bytes,
sent `delay` microseconds apart, as a congested network would deliver them."""

from __future__ import annotations

import asyncio
import random

from .base import BadAttributes, Chunk, Emit, Toxic, ToxicContext


class Slicer(Toxic):
    type_name = "slicer"
    fields = ("average_size", "size_variation", "delay")
    average_size: int
    size_variation: int
    delay: int

    def validate(self) -> None:
        if self.average_size < 1:
            raise BadAttributes("slicer.average_size must be at least 1")
        if self.size_variation >= self.average_size:
            raise BadAttributes("slicer.size_variation must be less than average_size")

    def cuts(self, size: int) -> list[tuple[int, int]]:
        """Offsets of the pieces of a chunk of `size` bytes, in order.

        Halves at a randomly shifted midpoint until each piece is near the average, so
        that no end of the chunk tends to get the small pieces (Toxiproxy's scheme).
        """
        pieces: list[tuple[int, int]] = []
        pending = [(0, size)]  # a stack; each split adds one entry, so at most `size`
        while pending:
            start, end = pending.pop()
            if (end - start) - self.average_size <= self.size_variation:
                pieces.append((start, end))
                continue
            shift = 0
            if self.size_variation > 0:
                shift = random.randrange(-self.size_variation, self.size_variation)
            middle = min(max(start + (end - start) // 2 + shift, start + 1), end - 1)
            pending.append((middle, end))
            pending.append((start, middle))
        return pieces

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        data = chunk.data
        for start, end in self.cuts(len(data)):
            await emit(data[start:end])
            if self.delay > 0:
                await asyncio.sleep(self.delay / 1_000_000)
