"""reset_peer: on the next data (or close), wait `timeout` ms, then send a TCP RST.

The RST comes from closing the socket with SO_LINGER set to 0, which discards unsent
data instead of the graceful FIN; the peer reads "connection reset by peer".
"""

from __future__ import annotations

import asyncio

from .base import Chunk, Emit, Toxic, ToxicContext


class ResetPeer(Toxic):
    type_name = "reset_peer"
    fields = ("timeout",)
    timeout: int

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        await self._reset(ctx)

    async def end(self, ctx: ToxicContext) -> None:
        await self._reset(ctx)

    async def _reset(self, ctx: ToxicContext) -> None:
        if self.timeout > 0:
            await asyncio.sleep(self.timeout / 1000)
        ctx.reset()
