"""The harness's own view of the service, independent of the runbook: steady state and verify.

Steady state = `/health` 200, `/ready` 200, and a real `/v1/generate` round trip whose job
reads back from `/v1/jobs/{id}`, probed within the API's declared rate limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from harness.backends.base import Stack
from harness.observe.ratelimit import RateBudget
from harness.services.contract import JOBS_DESTROYED_SQL, configured_rate_limit
from harness.tls import shared_context
from harness.topology import API_PORT

# The API's rate limit is per client: the probe and the background load (harness.observe.load) each
# count as a client of their own, so neither can starve the other (nor users) of quota, and
# each spends under the limit the API declares (harness.observe.ratelimit).
PROBE_CLIENT = {"X-Api-Key": "gameday-probe"}


def api_base(stack: Stack) -> str:
    """The API where the deployment publishes it: production's :8000, or, when the layer maps
    the API's role onto a renamed service (`x-roles`), that service's first published port."""
    port = API_PORT
    service = stack.compose.role("testgen")
    if service != "testgen":
        for entry in stack.compose.spec(service).get("ports") or []:
            port = int(str(entry).rsplit(":", 2)[-2] if ":" in str(entry) else str(entry))
            break
    address = stack.published(port)
    if address is None:
        raise LookupError(f"the stack publishes nothing on production's port {port}")
    return f"http://{address[0]}:{address[1]}"


@dataclass(frozen=True)
class Observation:
    """One probe of steady state."""

    holds: bool  # every check it made passed
    observed: str
    generate_checked: bool  # the generate round trip was made and answered (not throttled)


class Prober:
    """The harness's probe: one client of the API, within the limit the API declares.

    `/health` and `/ready` are probed every time (the API does not limit them); the generate
    round trip only when the client's `RateBudget` allows it. A generate the budget holds back,
    or one the API throttles anyway (429), is *not checked*: never a failure of the service."""

    def __init__(self, stack: Stack, budget: RateBudget | None = None, timeout: float = 3.0):
        self.stack, self.timeout = stack, timeout
        self.budget = budget or RateBudget(PROBE_CLIENT["X-Api-Key"])

    def __call__(self, want_generate: bool = True) -> Observation:
        base = api_base(self.stack)
        try:
            with httpx.Client(
                base_url=base, timeout=self.timeout, verify=shared_context(), headers=PROBE_CLIENT
            ) as client:
                return self._probe(client, want_generate)
        except httpx.HTTPError as exc:
            return Observation(False, f"{type(exc).__name__}: {exc or 'no answer'} ({base})", False)
        except (ValueError, KeyError) as exc:
            return Observation(False, f"unexpected body from /v1/generate: {exc}", False)

    def _probe(self, client: httpx.Client, want_generate: bool) -> Observation:
        self.budget.count_request()
        health = client.get("/health")
        if health.status_code != 200:
            return Observation(False, f"/health answered {health.status_code}", False)
        self.budget.count_request()
        ready = client.get("/ready")
        if ready.status_code != 200:
            return Observation(
                False, f"/ready answered {ready.status_code}: {ready.text[:200]}", False
            )
        if not want_generate:
            return Observation(True, "health 200, ready 200", False)
        if not self.budget.try_acquire():
            return Observation(
                True, f"health 200, ready 200; generate not probed ({self._limit_words()})", False
            )
        probe = client.post(
            "/v1/generate",
            json={"language": "python", "source": f"def probe_{uuid.uuid4().hex}(): return 1"},
        )
        self.budget.learn(probe.status_code, probe.headers)
        if probe.status_code == 429:
            return Observation(
                True,
                "health 200, ready 200; generate not checked: the API's rate limit throttled "
                f"the gameday's own probe ({self._limit_words()})",
                False,
            )
        if probe.status_code != 200:
            return Observation(
                False, f"/v1/generate answered {probe.status_code}: {probe.text[:200]}", True
            )
        job_id = probe.json()["job_id"]
        self.budget.count_request()
        back = client.get(f"/v1/jobs/{job_id}")
        if back.status_code != 200:
            return Observation(False, f"/v1/jobs/{job_id} answered {back.status_code}", True)
        return Observation(True, GENERATE_OK, True)

    def _limit_words(self) -> str:
        limit = self.budget.limit
        return (
            f"client {PROBE_CLIENT['X-Api-Key']} stays under the API's declared limit of "
            f"{limit}/min" if limit else f"client {PROBE_CLIENT['X-Api-Key']} waits as told"
        )


GENERATE_OK = "health 200, ready 200, generate 200 and job read back"


def steady_state(stack: Stack, timeout: float = 3.0) -> tuple[bool, str]:
    """(holds, what was observed): one full probe, generate round trip included."""
    seen = Prober(stack, timeout=timeout)()
    return seen.holds and seen.generate_checked, seen.observed


def data_destroyed(stack: Stack) -> bool:
    """Observer check straight at PostgreSQL: are the service's acknowledged jobs gone (the
    jobs table dropped or emptied)? False when PostgreSQL cannot be asked."""
    import psycopg

    try:
        host, port = stack.endpoint("postgres", 5432)
        with psycopg.connect(
            host=host, port=port, **postgres_login(stack), connect_timeout=1
        ) as conn:
            row = conn.execute(JOBS_DESTROYED_SQL).fetchone()
            return bool(row and row[0])
    except Exception:  # noqa: BLE001 - PostgreSQL down or absent: nothing to conclude
        return False


def postgres_login(stack: Stack) -> dict[str, Any]:
    """user, password and dbname of the stack's PostgreSQL, from its container's config."""
    env = stack.containers()["postgres"].config.env
    user = env.get("POSTGRES_USER", "postgres")
    return {
        "user": user,
        "password": env.get("POSTGRES_PASSWORD", ""),
        "dbname": env.get("POSTGRES_DB", user),
    }


def configured_rate_limit_of(stack: Stack) -> int | None:
    """The per-client generate limit the deployment configured for the API's container (the
    environment it was created with), or None when it configures none."""
    limits = [
        limit
        for state in stack.containers().values()
        if (limit := configured_rate_limit(state.config.env)) is not None
    ]
    return min(limits) if limits else None
