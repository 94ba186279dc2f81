"""slow_close: when the source closes, wait `delay` ms before passing the close on."""

from __future__ import annotations

import asyncio

from .base import Toxic, ToxicContext


class SlowClose(Toxic):
    type_name = "slow_close"
    fields = ("delay",)
    delay: int

    async def end(self, ctx: ToxicContext) -> None:
        await asyncio.sleep(self.delay / 1000)
