"""timeout: stop all data; close the connection after `timeout` ms (0: never close).

As in Toxiproxy, the data is dropped, not held: a client sees silence, and removing the
toxic closes the connections it touched, since the peers are no longer in step.
"""

from __future__ import annotations

from .base import Chunk, Emit, Toxic, ToxicContext


class Timeout(Toxic):
    type_name = "timeout"
    fields = ("timeout",)
    timeout: int

    def start(self, ctx: ToxicContext) -> None:
        if self.timeout > 0:
            ctx.call_later(self.timeout / 1000, ctx.close)

    def stop(self, ctx: ToxicContext, removed: bool) -> None:
        if removed:
            ctx.close()

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        return  # dropped on the floor
