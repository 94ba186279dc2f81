"""High memory usage ending in OOM kills: oversized objects in the Redis cache.

Popular cache entries are replaced by ones carrying a large payload. The TestGen service
(with its chaos hooks on) keeps every entry it reads in process, so its memory grows past
its limit and the kernel OOM-kills it; after each restart the same entries come back from
Redis and it happens again, until the cache is cleared.
"""

from __future__ import annotations

import json

import redis

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.faults.params import Param
from harness.observe.load import POPULAR_SOURCES
from harness.services.contract import cache_key


class CacheBloat(Fault):
    kind = "cache-bloat"
    params = (
        Param("payload_mb", int, "size of each poisoned cache entry", "MiB", minimum=1,
              maximum=512),
    )

    def __init__(self, payload_mb: int = 48) -> None:
        self.payload_mb = payload_mb
        self._ooms = 0
        self._kills_at_confirm: int | None = None  # restarts when the first OOM kill was seen

    def _redis(self, stack: Stack) -> redis.Redis:
        host, port = stack.endpoint("redis", 6379)
        # With the deployment's password (`--requirepass`), as any client of its Redis must.
        password = stack.containers()["redis"].config.requirepass
        return redis.Redis(host=host, port=port, password=password, socket_timeout=10)

    def inject(self, stack: Stack) -> None:
        state = stack.containers()["testgen"]
        self._ooms = int(state.oom_killed) + state.restart_count
        blob = "x" * (self.payload_mb * 1024 * 1024)
        client = self._redis(stack)
        try:
            # One encoding for every key: the entries are alike, and 48 MiB of JSON costs
            # 0.13 s of CPU each time.
            entry = json.dumps(
                {"tests": "def test_popular():\n    assert True\n", "provider": "openai",
                 "trace": blob}
            )  # fmt: skip
            for source in POPULAR_SOURCES:
                client.set(cache_key("python", source), entry, ex=3600)
        finally:
            client.close()

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers()["testgen"]
        if state.oom_killed:
            self._kills_at_confirm = state.restart_count
            return (f"{state.name} OOM-killed by the kernel (exit {state.exit_code}, "
                    f"restarts {state.restart_count})")
        if state.config.mem_limit_bytes is None or "mem_limit not enforced" in " ".join(
            stack.info.notes
        ):
            usage = stack.stats("testgen").memory_bytes
            if usage > 200 * 1024 * 1024:
                return f"{state.name} memory at {usage >> 20} MiB (no memory limit enforced here)"
        self.shortfall = (f"{state.name} not OOM-killed ({state.status.value}, "
                          f"{state.restart_count} restarts) after {self.payload_mb} MiB entries")
        return None

    def symptom_stopped(self, stack: Stack) -> str | None:
        """The OOM kills stopped: the API runs and was not killed again since the confirmation.
        Under heavy load a read of the poisoned entries can fail, and the API then serves
        without holding them: the incident is over before anyone could detect it."""
        if self._kills_at_confirm is None:
            return None  # confirmed by memory held (no limit enforced): not a kill loop
        state = stack.containers()["testgen"]
        if state.oom_killed or state.restart_count != self._kills_at_confirm:
            return None
        if state.status is not Status.RUNNING:
            return None
        return (f"{state.name} was not OOM-killed again after the first kill (restarts still "
                f"{state.restart_count}, {state.status.value}): the API served without reading "
                "the poisoned entries back")

    def still_in_effect(self, stack: Stack) -> str | None:
        """Poisoned entries still in Redis: the API will be OOM-killed again once it reads them."""
        client = self._redis(stack)
        try:
            keys = [cache_key("python", s) for s in POPULAR_SOURCES]
            sizes = [client.strlen(k) for k in keys]
        except redis.RedisError as exc:
            return f"cannot tell whether the poisoned cache entries are gone: {exc}"
        finally:
            client.close()
        poisoned = sum(1 for n in sizes if n > 1 << 20)
        if poisoned:
            return f"{poisoned} cache entries still carry {self.payload_mb} MiB payloads"
        return None

    @property
    def description(self) -> str:
        return (
            f"Popular Redis cache entries were replaced by entries carrying {self.payload_mb} MiB "
            "payloads; the TestGen service keeps cache entries in process, grows past its memory "
            "limit and is OOM-killed, again after every restart while the entries stay in Redis."
        )
