"""Background traffic and the ledger of acknowledged writes.

Real users keep sending `/v1/generate` during an incident; every 200 the API returns is a
promise that the job is stored. After recovery each acknowledged job must read back, or
something in the incident (or in the runbook's steps) lost data.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from harness.backends.base import Stack
from harness.observe.probes import api_base
from harness.observe.ratelimit import RateBudget
from harness.result import Impact
from harness.services.contract import impact_severity
from harness.tls import shared_context

# The background load is one client of the API's per-client rate limit; the harness's probe
# (harness.observe.probes.PROBE_CLIENT) is another.
LOAD_CLIENT = {"X-Api-Key": "gameday-load"}


@dataclass
class Request:
    t: float  # seconds on the gameday clock
    ok: bool
    latency_ms: float
    status: int  # HTTP status, or 0 when there was no answer

    @property
    def throttled(self) -> bool:
        """The API's rate limit refused the harness's own load: not a user failing."""
        return self.status == 429


# Popular snippets many users send: every fourth request is one of them (cache hits).
POPULAR_SOURCES = tuple(
    f"def popular_{i}(items):\n    return sorted(items)[:{i + 1}]\n" for i in range(8)
)


class Load:
    """A bounded request loop (rate × duration ≤ max_requests) in a thread, sending only
    what its `RateBudget` allows under the API's declared per-client limit: a tick the budget
    holds back is skipped, so the load never makes the limit part of the incident."""

    def __init__(
        self,
        stack: Stack,
        clock: Callable[[], float],
        rate_per_s: float = 10.0,
        max_requests: int = 20_000,
        timeout_s: float = 2.0,
        budget: RateBudget | None = None,
    ) -> None:
        self.base = api_base(stack)
        self.clock = clock
        self.interval = 1.0 / rate_per_s
        self.max_requests = max_requests
        self.timeout = timeout_s
        self.budget = budget or RateBudget(LOAD_CLIENT["X-Api-Key"], gameday_clock=clock)
        self.requests: list[Request] = []
        self.acknowledged: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="load")

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)

    def _run(self) -> None:
        with httpx.Client(
            base_url=self.base, timeout=self.timeout, verify=shared_context(), headers=LOAD_CLIENT
        ) as client:
            i = 0
            while i < self.max_requests and not self._stop.is_set():
                started = time.monotonic()
                if not self.budget.try_acquire():
                    self._stop.wait(self.interval)
                    continue
                t = self.clock()
                status, ok = 0, False
                try:
                    source = (
                        POPULAR_SOURCES[(i // 4) % len(POPULAR_SOURCES)]
                        if i % 4 == 3
                        else f"def load_{id(self)}_{i}(x):\n    return x + {i}\n"
                    )
                    r = client.post("/v1/generate", json={"language": "python", "source": source})
                    status = r.status_code
                    self.budget.learn(status, r.headers)
                    if status == 200:
                        self.acknowledged.append(r.json()["job_id"])
                        ok = True
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                elapsed = time.monotonic() - started
                self.requests.append(Request(t, ok, elapsed * 1000, status))
                i += 1
                self._stop.wait(max(0.0, self.interval - elapsed))


def unreadable_jobs(stack: Stack, job_ids: list[str], timeout_s: float = 3.0) -> list[str]:
    """Acknowledged job ids that the API cannot return any more."""
    lost = []
    with httpx.Client(
        base_url=api_base(stack), timeout=timeout_s, verify=shared_context()
    ) as client:
        for job_id in job_ids:
            try:
                if client.get(f"/v1/jobs/{job_id}").status_code != 200:
                    lost.append(job_id)
            except httpx.HTTPError:
                lost.append(job_id)
    return lost


def measure_impact(requests: list[Request], t0: float | None, ttr_s: float | None) -> Impact:
    """What the users (the background load) saw: failures and latency during the incident
    (t0 to recovery, or to the end), and the severity that impact implies. Answers the API's
    rate limit gave the harness's own load are not users failing: they are left out."""
    reqs = [r for r in requests if not r.throttled]
    imp = Impact(requests=len(reqs), failed=sum(not r.ok for r in reqs))
    if t0 is not None:
        end = (t0 + ttr_s) if ttr_s is not None else float("inf")
        window = [r for r in reqs if t0 <= r.t <= end]
        imp.incident_requests = len(window)
        imp.incident_failed = sum(not r.ok for r in window)
        lat = sorted(r.latency_ms for r in window) or sorted(r.latency_ms for r in reqs)
        if lat:
            imp.p50_ms = round(statistics.median(lat), 2)
            imp.p99_ms = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2)
        ratio = imp.incident_failed / imp.incident_requests if imp.incident_requests else 0.0
        imp.severity = impact_severity(ratio)
    buckets: dict[int, list[int]] = {}
    for r in reqs:
        b = buckets.setdefault(int(r.t), [0, 0])
        b[0 if r.ok else 1] += 1
    imp.buckets = [(float(k), v[0], v[1]) for k, v in sorted(buckets.items())]
    return imp
