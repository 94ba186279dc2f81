"""What the reference services promise the harness, and nothing else.

The TestGen API and the mock LLM run as separate processes (or images); the harness's faults
and catalog rely on a few of their conventions. Those live here, so a fault never imports a
service's internals: the cache key of a request, the chaos hook routes, the mock provider's
names and fault modes.
"""

from __future__ import annotations

import hashlib

# TestGen API: Redis cache entries are `CACHE_PREFIX + content_key(language, source)`.
CACHE_PREFIX = "testgen:cache:"

# Mock LLM provider: the providers it plays and the modes its control API accepts.
PROVIDERS = ("openai", "anthropic", "ollama")
MODES = ("ok", "quota_exceeded", "rate_limited", "server_error", "slow", "hang", "malformed")


def content_key(language: str, source: str) -> str:
    """sha256 of language + source (NUL-separated so the pair is unambiguous)."""
    return hashlib.sha256(f"{language}\0{source}".encode()).hexdigest()


def cache_key(language: str, source: str) -> str:
    return CACHE_PREFIX + content_key(language, source)
