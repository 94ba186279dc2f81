"""The TestGen service's configuration, read from the environment only.

`Config.from_env()` validates everything up front and raises `ConfigError` with a one-line
reason; `__main__` turns that into exit status 78 (EX_CONFIG) before anything is started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

EX_CONFIG = 78

REQUIRED = ("TESTGEN_DATABASE_URL", "TESTGEN_REDIS_URL", "TESTGEN_SECRET_KEY")
PROVIDERS = ("openai", "anthropic")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class ConfigError(Exception):
    """The environment cannot configure the service; the message is the one-line reason."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        # Never echo the value: database URLs carry passwords.
        raise ConfigError(f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    secret_key: str = field(repr=False)
    host: str = "0.0.0.0"
    port: int = 8000
    log_file: str = ""
    openai_api_base: str = ""
    anthropic_api_base: str = ""
    ollama_base_url: str = "http://127.0.0.1:11434"
    openai_api_key: str = field(default="", repr=False)
    anthropic_api_key: str = field(default="", repr=False)
    primary_llm_provider: str = "openai"
    local_llm_enabled: bool = False
    llm_rate_limit: int = 0  # requests a minute per client; 0: no limit
    chaos_hooks: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        for name in REQUIRED:
            if not env.get(name, "").strip():
                raise ConfigError(f"required variable {name} is not set")
        provider = env.get("PRIMARY_LLM_PROVIDER", "").strip().lower() or "openai"
        if provider not in PROVIDERS:
            raise ConfigError(
                f"PRIMARY_LLM_PROVIDER must be one of {', '.join(PROVIDERS)}, got {provider!r}"
            )
        return cls(
            database_url=_url(env, "TESTGEN_DATABASE_URL", ("postgresql", "postgres")),
            redis_url=_url(env, "TESTGEN_REDIS_URL", ("redis", "rediss")),
            secret_key=env["TESTGEN_SECRET_KEY"],
            host=env.get("TESTGEN_HOST", "").strip() or "0.0.0.0",
            port=_int(env, "TESTGEN_PORT", 8000, 1, 65535),
            log_file=env.get("TESTGEN_LOG_FILE", "").strip(),
            openai_api_base=_url(env, "OPENAI_API_BASE", ("http", "https")),
            anthropic_api_base=_url(env, "ANTHROPIC_API_BASE", ("http", "https")),
            ollama_base_url=_url(env, "OLLAMA_BASE_URL", ("http", "https"))
            or "http://127.0.0.1:11434",
            openai_api_key=env.get("OPENAI_API_KEY", "").strip(),
            anthropic_api_key=env.get("ANTHROPIC_API_KEY", "").strip(),
            primary_llm_provider=provider,
            local_llm_enabled=_flag(env, "LOCAL_LLM_ENABLED", False),
            # Unset: no limit. The team's deployment passes no LLM_RATE_LIMIT and its code reads
            # none; a deployment that passes one (deployments/assumed) gets the runbook's limit.
            llm_rate_limit=_int(env, "LLM_RATE_LIMIT", 0, 0, 10**9),
            chaos_hooks=_flag(env, "TESTGEN_CHAOS_HOOKS", False),
        )

    def secrets(self) -> list[str]:
        """Values that must never appear in any log line."""
        values = [self.secret_key, self.openai_api_key, self.anthropic_api_key]
        for url in (self.database_url, self.redis_url):
            password = urlsplit(url).password
            if password:
                values.append(password)
        return [v for v in values if len(v) >= 4]
