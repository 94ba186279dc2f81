"""Redis: the per-minute rate-limit counter and the generation cache.

Redis is an optimisation, not a dependency of correctness: every call here either
succeeds within about a second (a cache entry: connects within a second, then may stream in
for longer) or raises `RedisUnavailable`, and the caller degrades
(no rate limit, no cache) instead of failing the request. No client-side retries: a
retry loop would multiply the timeout on every request during an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from harness.services.contract import CACHE_PREFIX

SOCKET_TIMEOUT = 1.0
# Reading a cache entry may take longer than any other call: a 48 MiB entry (the oversized
# objects of the high-memory incident) takes 0.2 s to arrive on an idle machine and over
# 1.5 s on a loaded one. That is a big value, not an outage: connecting stays bounded by
# SOCKET_TIMEOUT, so a Redis that is down still degrades at once.
ENTRY_READ_TIMEOUT = 15.0
CACHE_TTL = 3600
_PREFIX = "testgen:"


class RedisUnavailable(Exception):
    """Redis did not answer; the message is the one-line reason."""


def client_id(headers: Mapping[str, str], address: str | None) -> str:
    """Who a request counts against in the rate limit, as real limiters do: the API key it
    sends (`X-Api-Key`, else `Authorization`), hashed so no key reaches Redis or the log;
    without one, the client's address."""
    key = headers.get("x-api-key") or headers.get("authorization")
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"addr:{address or 'unknown'}"


def _client(url: str, read_timeout: float) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        socket_timeout=read_timeout,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        decode_responses=True,
    )


class Cache:
    def __init__(self, url: str) -> None:
        self.client = _client(url, SOCKET_TIMEOUT)
        # Its own connections: a slow entry never holds up the rate-limit counter.
        self.entries = _client(url, ENTRY_READ_TIMEOUT)

    async def close(self) -> None:
        for client in (self.client, self.entries):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def _call(self, coro: Any, timeout: float = SOCKET_TIMEOUT + 0.5) -> Any:
        try:
            return await asyncio.wait_for(coro, timeout)
        except TimeoutError:
            raise RedisUnavailable(f"no answer within {timeout:.1f}s") from None
        except (RedisError, OSError) as exc:
            raise RedisUnavailable(" ".join(str(exc).split()) or type(exc).__name__) from None

    async def hit_rate_limit(self, limit: int, client: str = "all") -> tuple[bool, int, int]:
        """Count this request in the client's current minute; (over_limit, count, seconds
        until that minute's counter resets)."""
        now = time.time()
        minute = int(now // 60)
        key = f"{_PREFIX}ratelimit:{client}:{minute}"

        async def incr() -> int:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
            return int(count)

        count = await self._call(incr())
        return count > limit, count, max(1, math.ceil((minute + 1) * 60 - now))

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._call(self.entries.get(CACHE_PREFIX + key), ENTRY_READ_TIMEOUT + 0.5)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if isinstance(value, dict) and isinstance(value.get("tests"), str):
            value.setdefault("provider", "unknown")
            return value  # the whole entry: extra fields stay attached (see Service.hot_cache)
        return None

    async def put(self, key: str, tests: str, provider: str) -> None:
        payload = json.dumps({"tests": tests, "provider": provider})
        await self._call(self.client.set(CACHE_PREFIX + key, payload, ex=CACHE_TTL))

    async def ping(self, timeout: float) -> None:
        await self._call(self.client.ping(), timeout)
