"""Background traffic and the ledger of acknowledged writes.

Real users keep sending `/v1/generate` during an incident; every 200 the API returns is a
promise that the job is stored. After recovery each acknowledged job must read back, or
something in the incident (or in the runbook's steps) lost data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from harness.backends.base import Stack
from harness.observe.probes import api_base
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


# Popular snippets many users send: every fourth request is one of them (cache hits).
POPULAR_SOURCES = tuple(
    f"def popular_{i}(items):\n    return sorted(items)[:{i + 1}]\n" for i in range(8)
)


class Load:
    """A bounded request loop (rate × duration ≤ max_requests) in a thread."""

    def __init__(
        self,
        stack: Stack,
        clock: Callable[[], float],
        rate_per_s: float = 10.0,
        max_requests: int = 20_000,
        timeout_s: float = 2.0,
    ) -> None:
        self.base = api_base(stack)
        self.clock = clock
        self.interval = 1.0 / rate_per_s
        self.max_requests = max_requests
        self.timeout = timeout_s
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
            for i in range(self.max_requests):
                if self._stop.is_set():
                    return
                started = time.monotonic()
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
                    if status == 200:
                        self.acknowledged.append(r.json()["job_id"])
                        ok = True
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                elapsed = time.monotonic() - started
                self.requests.append(Request(t, ok, elapsed * 1000, status))
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
