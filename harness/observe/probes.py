"""The harness's own view of the service, independent of the runbook: steady state and verify.

Steady state = `/health` 200, `/ready` 200, and a real `/v1/generate` round trip whose job
reads back from `/v1/jobs/{id}`.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from harness.backends.base import Stack
from harness.tls import shared_context
from harness.topology import API_PORT

# The API's rate limit is per client: the probe and the background load (harness.observe.load) each
# count as a client of their own, so neither can starve the other (nor users) of quota.
PROBE_CLIENT = {"X-Api-Key": "gameday-probe"}


def api_base(stack: Stack) -> str:
    address = stack.published(API_PORT)
    if address is None:
        raise LookupError("the stack publishes nothing on production's port 8000")
    return f"http://{address[0]}:{address[1]}"


def steady_state(stack: Stack, timeout: float = 3.0) -> tuple[bool, str]:
    """(holds, what was observed)."""
    base = api_base(stack)
    try:
        with httpx.Client(
            base_url=base, timeout=timeout, verify=shared_context(), headers=PROBE_CLIENT
        ) as client:
            health = client.get("/health")
            if health.status_code != 200:
                return False, f"/health answered {health.status_code}"
            ready = client.get("/ready")
            if ready.status_code != 200:
                return False, f"/ready answered {ready.status_code}: {ready.text[:200]}"
            probe = client.post(
                "/v1/generate",
                json={"language": "python", "source": f"def probe_{uuid.uuid4().hex}(): return 1"},
            )
            if probe.status_code == 429:
                return False, (
                    "the API's rate limit throttled the gameday's own probe (client "
                    f"{PROBE_CLIENT['X-Api-Key']}): /v1/generate answered 429: {probe.text[:200]}"
                )
            if probe.status_code != 200:
                return False, f"/v1/generate answered {probe.status_code}: {probe.text[:200]}"
            job_id = probe.json()["job_id"]
            back = client.get(f"/v1/jobs/{job_id}")
            if back.status_code != 200:
                return False, f"/v1/jobs/{job_id} answered {back.status_code}"
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc or 'no answer'} ({base})"
    except (ValueError, KeyError) as exc:
        return False, f"unexpected body from /v1/generate: {exc}"
    return True, "health 200, ready 200, generate 200 and job read back"


def postgres_login(stack: Stack) -> dict[str, Any]:
    """user, password and dbname of the stack's PostgreSQL, from its container's config."""
    env = stack.containers()["postgres"].config.env
    user = env.get("POSTGRES_USER", "postgres")
    return {
        "user": user,
        "password": env.get("POSTGRES_PASSWORD", ""),
        "dbname": env.get("POSTGRES_DB", user),
    }
