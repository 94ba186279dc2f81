"""High memory without a kill: the service holds most of its memory limit."""

from __future__ import annotations

import httpx

from harness.backends.base import Stack
from harness.faults.base import Fault
from harness.faults.params import Param
from harness.observe.probes import api_base
from harness.tls import shared_context


class MemoryPressure(Fault):
    kind = "memory-pressure"
    params = (
        Param("share_of_limit", float, "memory the API holds, as a share of its limit",
              "share of the limit", minimum=0.05, maximum=0.95),
    )

    def __init__(self, share_of_limit: float = 0.85) -> None:
        self.share = share_of_limit

    def inject(self, stack: Stack) -> None:
        limit = stack.containers()["testgen"].config.mem_limit_bytes or 256 << 20
        base = stack.stats("testgen").memory_bytes
        target_mb = max(16, int((limit * self.share - base) / (1 << 20)))
        httpx.post(
            f"{api_base(stack)}/_chaos/memory",
            json={"mb": target_mb, "step_mb": 16, "interval_ms": 20},
            timeout=5,
            verify=shared_context(),
        ).raise_for_status()

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers()["testgen"]
        usage = stack.stats("testgen")
        limit = usage.memory_limit_bytes or state.config.mem_limit_bytes or 256 << 20
        held = f"{state.name} holds {usage.memory_bytes >> 20} MiB of {limit >> 20} MiB"
        # 80 % of the level asked: the allocation grows in steps and the limit is not exact.
        if usage.memory_bytes >= 0.8 * limit * self.share:
            return held
        self.shortfall = (f"{held}, asked {self.share:.0%} of it (at least "
                          f"{int(0.8 * limit * self.share) >> 20} MiB)")  # fmt: skip
        return None

    def still_in_effect(self, stack: Stack) -> str | None:
        # The same threshold as the confirmation: the allocation is still held.
        return self.confirm(stack)

    @property
    def description(self) -> str:
        return f"The TestGen API grew to {self.share:.0%} of its memory limit (not killed)."
