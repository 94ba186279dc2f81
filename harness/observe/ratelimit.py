"""The service's declared rate limit, as each of the harness's own clients spends it.

The verify probe and the background load are clients of the API like any other: a gameday
must not cause what it judges. Each client keeps a `RateBudget`: it learns the per-client
limit the API declares (the deployment's configuration before the first answer, then the
answers' `RateLimit-Limit`/`X-RateLimit-Limit`, `-Remaining`, `RateLimit-Reset`, and
`Retry-After` on a 429) and sends a limited request only when that keeps it under the limit:

    at most SHARE × limit requests in any 60 s, spaced evenly; none while the API says
    nothing is left, or after a 429 until its Retry-After has passed

Any fixed one-minute window (the API counts per clock minute) lies inside some sliding 60 s
window, so staying under the limit in every sliding window stays under it in every fixed one.
Requests on paths the API does not limit (/health, /ready) need no budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

WINDOW_S = 60.0  # the limit is declared per minute
SHARE = 0.8  # the share of the declared limit a harness client may spend
LIMIT_HEADERS = ("ratelimit-limit", "x-ratelimit-limit")
REMAINING_HEADERS = ("ratelimit-remaining", "x-ratelimit-remaining")
RESET_HEADERS = ("ratelimit-reset",)


@dataclass(frozen=True)
class Declared:
    """What one answer declared about the client's limit (None: not said)."""

    limit: int | None = None  # requests per minute
    remaining: int | None = None
    reset_s: float | None = None  # until the current window's count resets
    retry_after_s: float | None = None


def _number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            # The IETF draft allows `10, 10;w=60`: the first item is the one that applies.
            value = float(raw.split(",")[0].split(";")[0].strip())
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None


def read_declared(headers: Mapping[str, str]) -> Declared:
    """The limit fields of an HTTP answer (header names case-insensitive). `Retry-After` as
    an HTTP date is not read: the API under test sends seconds."""
    lower = {k.lower(): v for k, v in headers.items()}
    limit = _number(lower, LIMIT_HEADERS)
    remaining = _number(lower, REMAINING_HEADERS)
    return Declared(
        limit=int(limit) if limit else None,
        remaining=None if remaining is None else int(remaining),
        reset_s=_number(lower, RESET_HEADERS),
        retry_after_s=_number(lower, ("retry-after",)),
    )


@dataclass
class ClientRate:
    """What one harness client sent, for the record (results.json `probe_rate`)."""

    client: str
    held_back: int = 0  # limited requests it did not send, to stay under the limit
    throttled: int = 0  # 429 answers it got anyway (never counted against the runbook)
    declared_limit_per_min: int | None = None  # the last limit the API declared (or config)
    all_t: list[float] = field(default_factory=list)  # gameday clock, every request
    limited_t: list[float] = field(default_factory=list)  # requests on the limited path

    def as_record(self) -> dict[str, object]:
        """Counts, and the busiest 60 s of each (what the API's per-minute limit sees)."""
        return {
            "client": self.client,
            "requests": len(self.all_t),
            "generate_requests": len(self.limited_t),
            "requests_per_min": peak_per_window(self.all_t),
            "generate_per_min": peak_per_window(self.limited_t),
            "held_back": self.held_back,
            "throttled": self.throttled,
            "declared_limit_per_min": self.declared_limit_per_min,
        }


def peak_per_window(times: list[float], window_s: float = WINDOW_S) -> int:
    """The most requests in any `window_s` (times ascending)."""
    peak, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window_s:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


class RateBudget:
    """One client's spending under the API's declared per-client limit (thread-safe)."""

    def __init__(
        self,
        client: str,
        limit_per_min: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        gameday_clock: Callable[[], float] | None = None,
    ) -> None:
        self.limit = limit_per_min
        self._clock = clock
        self._gameday_clock = gameday_clock or clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self.rate = ClientRate(client, declared_limit_per_min=limit_per_min)

    def configure(self, limit_per_min: int | None) -> None:
        """The deployment's configured limit (e.g. after a step recreated the API)."""
        if limit_per_min is not None:
            with self._lock:
                self.limit = self.rate.declared_limit_per_min = limit_per_min

    @property
    def cap(self) -> int | None:
        """Limited requests allowed in any 60 s (None: no limit known)."""
        return None if self.limit is None else max(1, math.floor(self.limit * SHARE))

    def wait_s(self) -> float:
        """How long until a limited request may be sent (0: now)."""
        with self._lock:
            return self._wait_locked(self._clock())

    def _wait_locked(self, now: float) -> float:
        while self._sent and now - self._sent[0] >= WINDOW_S:
            self._sent.popleft()
        wait = max(0.0, self._blocked_until - now)
        cap = self.cap
        if cap is not None and self._sent:
            if len(self._sent) >= cap:
                wait = max(wait, self._sent[0] + WINDOW_S - now)
            wait = max(wait, self._sent[-1] + WINDOW_S / cap - now)
        return wait

    def try_acquire(self) -> bool:
        """Take one limited request from the budget now, or count it as held back."""
        with self._lock:
            now = self._clock()
            if self._wait_locked(now) > 0:
                self.rate.held_back += 1
                return False
            self._sent.append(now)
            self.rate.limited_t.append(self._gameday_clock())
            self._count_locked()
            return True

    def count_request(self) -> None:
        """A request on an unlimited path (for the client's total rate)."""
        with self._lock:
            self._count_locked()

    def _count_locked(self) -> None:
        self.rate.all_t.append(self._gameday_clock())

    def learn(self, status: int, headers: Mapping[str, str]) -> None:
        """Read what an answer on the limited path declared."""
        declared = read_declared(headers)
        with self._lock:
            now = self._clock()
            if declared.limit is not None:
                self.limit = self.rate.declared_limit_per_min = declared.limit
            if declared.remaining == 0:
                self._blocked_until = max(
                    self._blocked_until, now + (declared.reset_s or WINDOW_S)
                )
            if status == 429:
                self.rate.throttled += 1
                pause = declared.retry_after_s or declared.reset_s or WINDOW_S
                self._blocked_until = max(self._blocked_until, now + pause)
