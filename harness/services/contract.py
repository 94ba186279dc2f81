"""What the reference services promise the harness, and nothing else.

The TestGen API and the mock LLM run as separate processes (or images); the harness's faults,
catalog and runner rely on a few of their conventions. Those live here, so nothing outside
`harness.services` imports a service's internals: the cache key of a request, the chaos hook
routes, the mock provider's names and fault modes, where the API keeps its jobs, how it
declares its rate limit, and how the design document grades an incident's impact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

# TestGen API: Redis cache entries are `CACHE_PREFIX + content_key(language, source)`.
CACHE_PREFIX = "testgen:cache:"

# Mock LLM provider: the providers it plays and the modes its control API accepts.
PROVIDERS = ("openai", "anthropic", "ollama")
MODES = ("ok", "quota_exceeded", "rate_limited", "server_error", "slow", "hang", "malformed")

# TestGen API: every acknowledged job is a row of this PostgreSQL table. The statement is
# true when the table is gone or empty: a runbook step destroyed the service's data.
JOBS_DESTROYED_SQL = "SELECT to_regclass('jobs') IS NULL OR NOT EXISTS (SELECT 1 FROM jobs)"

# TestGen API: the per-client limit on POST /v1/generate, requests per minute, as the
# deployment configures it (the compose environment the container was created with).
RATE_LIMIT_ENV = "LLM_RATE_LIMIT"


def content_key(language: str, source: str) -> str:
    """sha256 of language + source (NUL-separated so the pair is unambiguous)."""
    return hashlib.sha256(f"{language}\0{source}".encode()).hexdigest()


def cache_key(language: str, source: str) -> str:
    return CACHE_PREFIX + content_key(language, source)


def configured_rate_limit(env: Mapping[str, str]) -> int | None:
    """The per-client generate limit (per minute) a container's environment sets, or None
    when it sets none or switches the limit off (0): then only the API's headers tell."""
    raw = env.get(RATE_LIMIT_ENV, "").strip()
    try:
        limit = int(raw)
    except ValueError:
        return None
    return limit if limit > 0 else None


def impact_severity(failed_ratio: float) -> int:
    """The SEV that the share of failing user requests implies (docs/design.md §1: all users
    failing SEV-1, over half SEV-2, some SEV-3, none SEV-4; "all" allows 5 % stragglers that
    were already in flight)."""
    if failed_ratio >= 0.95:
        return 1
    if failed_ratio > 0.5:
        return 2
    return 3 if failed_ratio > 0 else 4
