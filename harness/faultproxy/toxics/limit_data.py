"""limit_data: let `bytes` bytes through on a connection's stream, then close it."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Chunk, Emit, Toxic, ToxicContext


@dataclass
class _Sent:
    count: int = 0


class LimitData(Toxic):
    type_name = "limit_data"
    fields = ("bytes",)
    bytes: int

    def new_state(self) -> _Sent:
        return _Sent()

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        sent: _Sent = ctx.state
        allowed = chunk.data[: max(0, self.bytes - sent.count)]
        if allowed:
            sent.count += len(allowed)
            await emit(allowed)
        if sent.count >= self.bytes:
            ctx.close()
