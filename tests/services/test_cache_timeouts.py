"""The API's Redis calls: a cache entry slow to arrive is read, every other call stays bounded.

The high-memory incident's oversized entries (48 MiB) take over 1.5 s to arrive on a loaded
machine. Read under the one-second bound of the other calls, they became "Redis unavailable",
the API never held them, and the fault did nothing: the docker gameday then blamed the runbook
for an incident that never happened (CI, 2026-12-03). A real Redis, behind the project's fault
proxy with 2 s of latency on the way back.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from servicekit import Redis, free_port, stop_process, wait_port

from harness.services.contract import CACHE_PREFIX
from harness.services.testgen.cache import SOCKET_TIMEOUT, Cache, RedisUnavailable
from harness.toxiproxy import Toxiproxy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def slow_redis_url(redis_server: Redis) -> Iterator[str]:
    """A URL for the real Redis through a proxy that delays every answer by 2 s."""
    api_port, listen = free_port(), free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "harness.faultproxy", "--host", "127.0.0.1", "--port",
         str(api_port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(api_port)
        api = Toxiproxy(f"http://127.0.0.1:{api_port}")
        api.create_proxy("redis", f"127.0.0.1:{listen}", f"127.0.0.1:{redis_server.port}")
        api.add_toxic("redis", "latency", {"latency": 2000}, stream="downstream")
        yield f"redis://127.0.0.1:{listen}/0"
    finally:
        stop_process(proxy)


def test_a_slow_large_entry_is_read_and_small_calls_stay_bounded(
    redis_server: Redis, slow_redis_url: str
) -> None:
    entry = {"tests": "def test_x():\n    assert True\n", "provider": "openai",
             "trace": "x" * (256 << 10)}  # fmt: skip
    direct = redis.Redis(port=redis_server.port)
    try:
        direct.set(CACHE_PREFIX + "slow-entry", json.dumps(entry))
    finally:
        direct.close()

    async def calls() -> tuple[dict[str, object] | None, str]:
        cache = Cache(slow_redis_url)
        try:
            got = await cache.get("slow-entry")
            try:
                await cache.hit_rate_limit(10, "timeout-test")
                counter = "answered"
            except RedisUnavailable as exc:
                counter = str(exc)
            return got, counter
        finally:
            await cache.close()

    got, counter = asyncio.run(calls())
    assert got is not None and got["trace"] == entry["trace"], "the slow entry was not read"
    # The 2 s answer is over the bound of the small calls: Redis counts as unavailable there.
    assert counter != "answered", f"a 2 s answer passed the {SOCKET_TIMEOUT:g} s bound"
