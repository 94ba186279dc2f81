"""Per-provider fault modes and served-traffic statistics of the mock LLM.

Modes: ok, quota_exceeded, rate_limited, server_error (optional `ratio` of failing
requests, deterministic by request counter), slow (`delay_ms`, default 2000, then ok),
hang (no answer until the mode changes or HANG_LIMIT_S passes), malformed (200, invalid
JSON). An optional `delay_ms` delays any mode's answer.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from harness.services.contract import MODES, PROVIDERS

HANG_LIMIT_S = 120.0
SLOW_DEFAULT_MS = 2000


@dataclass
class Mode:
    mode: str = "ok"
    delay_ms: int = 0
    ratio: float = 1.0
    retry_after: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_mode(body: Any) -> tuple[list[str], Mode]:
    """Validate a PUT /_chaos/mode body: (providers it applies to, the mode)."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    provider = body.get("provider")
    if provider in ("all", "*"):
        providers = list(PROVIDERS)
    elif provider in PROVIDERS:
        providers = [provider]
    else:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)} or all")
    mode = body.get("mode")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    delay = body.get("delay_ms", SLOW_DEFAULT_MS if mode == "slow" else 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 600_000:
        raise ValueError("delay_ms must be an integer between 0 and 600000")
    ratio = body.get("ratio", 1.0)
    if (not isinstance(ratio, int | float) or isinstance(ratio, bool)
            or not 0.0 <= float(ratio) <= 1.0):
        raise ValueError("ratio must be a number between 0 and 1")
    retry_after = body.get("retry_after", 1)
    if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0:
        raise ValueError("retry_after must be a non-negative integer")
    return providers, Mode(str(mode), delay, float(ratio), retry_after)


class State:
    def __init__(self) -> None:
        self.modes: dict[str, Mode] = {}
        self.requests: Counter[str] = Counter()
        self.responses: dict[str, Counter[str]] = {}
        self.routes: dict[str, dict[str, Counter[str]]] = {}
        self.hangs: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self._changed: dict[str, asyncio.Event] = {}
        self.reset()

    def reset(self) -> None:
        for provider in PROVIDERS:
            self.set_mode(provider, Mode())
        self.requests.clear()
        self.hangs.clear()
        self.tokens.clear()
        self.responses = {p: Counter() for p in PROVIDERS}
        self.routes = {p: {} for p in PROVIDERS}

    def set_mode(self, provider: str, mode: Mode) -> None:
        self.modes[provider] = mode
        # Wake requests hanging under the old mode: they re-evaluate with the new one.
        old = self._changed.get(provider)
        self._changed[provider] = asyncio.Event()
        if old is not None:
            old.set()

    def changed(self, provider: str) -> asyncio.Event:
        return self._changed[provider]

    def count_request(self, provider: str) -> int:
        self.requests[provider] += 1
        return self.requests[provider]

    def count_response(self, provider: str, status: int | str, route: str) -> None:
        self.responses[provider][str(status)] += 1
        self.routes[provider].setdefault(route, Counter())[str(status)] += 1

    @staticmethod
    def fails(n: int, ratio: float) -> bool:
        """Whether request number n (1-based) fails at this ratio: evenly spread, exact.

        ratio 0.5 fails requests 2, 4, 6...; 0.25 fails 4, 8...; 1 fails all; 0 none.
        """
        return math.floor(n * ratio + 1e-9) > math.floor((n - 1) * ratio + 1e-9)

    def stats(self) -> dict[str, Any]:
        return {
            p: {
                "requests": self.requests[p],
                "responses": dict(sorted(self.responses[p].items())),
                "hangs": self.hangs[p],
                "routes": {r: dict(sorted(c.items())) for r, c in sorted(self.routes[p].items())},
                "mode": self.modes[p].mode,
            }
            for p in PROVIDERS
        }

    def modes_json(self) -> dict[str, Any]:
        return {p: self.modes[p].to_json() for p in PROVIDERS}
