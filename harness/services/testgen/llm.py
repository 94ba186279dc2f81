"""LLM providers: OpenAI, Anthropic, and the local Ollama fallback, over one httpx client.

`LLM.generate()` calls PRIMARY_LLM_PROVIDER; any failure (non-2xx, timeout, connection
error, malformed body) is logged as `ERROR llm_error provider=P status=S reason=R` and
counted in `llm_requests_total{provider,status}`; then, when LOCAL_LLM_ENABLED, Ollama is
tried. Each call is bounded to CALL_TIMEOUT seconds in total, slow drips included. API
keys travel only in request headers, never in URLs, messages or logs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from .config import Config
from .log import kv
from .metrics import Metrics

CALL_TIMEOUT = 5.0
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest", "ollama": "codellama"}
ANTHROPIC_VERSION = "2023-06-01"


class LLMError(Exception):
    """One provider failed. `status`: HTTP status, or timeout|unreachable|unconfigured."""

    def __init__(self, provider: str, status: str, reason: str) -> None:
        super().__init__(f"{provider}: {status} {reason}")
        self.provider, self.status, self.reason = provider, status, reason

    def short(self) -> str:
        return f"{self.provider} {self.status} {self.reason}"


def prompt_for(language: str, source: str) -> str:
    return (
        f"Write pytest unit tests for the following {language} code. "
        f"Answer with the test module only.\n\n{source}"
    )


def _error_reason(provider: str, response: httpx.Response) -> str:
    """The provider's own error code (insufficient_quota, rate_limit_error, ...)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            for key in ("code", "type"):
                if isinstance(err.get(key), str) and err[key]:
                    return str(err[key])
        if isinstance(err, str) and err:
            return err[:120]
    return f"http_{response.status_code}"


def _text(provider: str, body: Any) -> str:
    """The completion text, or ValueError when the body has not the provider's shape."""
    text: Any = None
    if provider == "openai":
        text = body["choices"][0]["message"]["content"]
    elif provider == "anthropic":
        text = "".join(b.get("text", "") for b in body["content"] if b.get("type") == "text")
    else:
        text = body["response"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty completion")
    return text


class LLM:
    def __init__(self, config: Config, metrics: Metrics, log: logging.Logger) -> None:
        self.config, self.metrics, self.log = config, metrics, log
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(CALL_TIMEOUT, connect=2.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
            follow_redirects=False,
            trust_env=False,  # the provider addresses are the configured ones, no proxies
        )

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def chain(self) -> list[str]:
        providers = [self.config.primary_llm_provider]
        if self.config.local_llm_enabled:
            providers.append("ollama")
        return providers

    def _request(self, provider: str, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        cfg = self.config
        if provider == "openai":
            if not cfg.openai_api_base:
                raise LLMError(provider, "unconfigured", "OPENAI_API_BASE is not set")
            headers = {"Authorization": f"Bearer {cfg.openai_api_key}"} if cfg.openai_api_key \
                else {}
            return f"{cfg.openai_api_base}/chat/completions", headers, {
                "model": MODELS[provider],
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
            }
        if provider == "anthropic":
            if not cfg.anthropic_api_base:
                raise LLMError(provider, "unconfigured", "ANTHROPIC_API_BASE is not set")
            headers = {"anthropic-version": ANTHROPIC_VERSION}
            if cfg.anthropic_api_key:
                headers["x-api-key"] = cfg.anthropic_api_key
            return f"{cfg.anthropic_api_base}/v1/messages", headers, {
                "model": MODELS[provider],
                "max_tokens": 1024,
                "messages": [{"role": "user", "content": prompt}],
            }
        return f"{cfg.ollama_base_url}/api/generate", {}, {
            "model": MODELS[provider],
            "prompt": prompt,
            "stream": False,
        }

    async def _post(self, provider: str, prompt: str) -> str:
        url, headers, payload = self._request(provider, prompt)
        try:
            response = await asyncio.wait_for(
                self.client.post(url, headers=headers, json=payload), CALL_TIMEOUT
            )
        except (TimeoutError, httpx.TimeoutException):
            raise LLMError(provider, "timeout", f"no answer within {CALL_TIMEOUT:.0f}s") from None
        except httpx.HTTPError as exc:
            raise LLMError(provider, "unreachable", str(exc) or type(exc).__name__) from None
        if not 200 <= response.status_code < 300:
            raise LLMError(provider, str(response.status_code), _error_reason(provider, response))
        try:
            return _text(provider, response.json())
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise LLMError(provider, "malformed", "malformed_response") from None

    async def call(self, provider: str, prompt: str) -> str:
        """One provider, counted and (on failure) logged with the llm_error marker."""
        try:
            text = await self._post(provider, prompt)
        except LLMError as err:
            self.metrics.llm_requests.labels(provider, err.status).inc()
            self.log.error("llm_error %s", kv(provider=provider, status=err.status,
                                               reason=err.reason))
            raise
        self.metrics.llm_requests.labels(provider, "200").inc()
        return text

    async def generate(self, language: str, source: str) -> tuple[str, str]:
        """(tests, provider) from the first provider of the chain that answers."""
        prompt = prompt_for(language, source)
        errors: list[LLMError] = []
        for provider in self.chain:
            try:
                return await self.call(provider, prompt), provider
            except LLMError as err:
                errors.append(err)
                if provider != self.chain[-1]:
                    self.log.info("llm fallback %s", kv(provider=self.chain[-1],
                                                        failed=provider))
        raise errors[-1] if len(errors) == 1 else LLMError(
            "+".join(e.provider for e in errors), errors[-1].status,
            "; ".join(e.short() for e in errors),
        )

    async def _check_one(self, provider: str, timeout: float) -> None:
        cfg = self.config
        headers: dict[str, str] = {}
        if provider == "openai":
            if not cfg.openai_api_base:
                raise LLMError(provider, "unconfigured", "OPENAI_API_BASE is not set")
            url = f"{cfg.openai_api_base}/models"
            if cfg.openai_api_key:
                headers["Authorization"] = f"Bearer {cfg.openai_api_key}"
        elif provider == "anthropic":
            if not cfg.anthropic_api_base:
                raise LLMError(provider, "unconfigured", "ANTHROPIC_API_BASE is not set")
            url = f"{cfg.anthropic_api_base}/v1/models"
            headers["anthropic-version"] = ANTHROPIC_VERSION
            if cfg.anthropic_api_key:
                headers["x-api-key"] = cfg.anthropic_api_key
        else:
            url = f"{cfg.ollama_base_url}/api/tags"
        try:
            response = await asyncio.wait_for(
                self.client.get(url, headers=headers, timeout=timeout), timeout
            )
        except (TimeoutError, httpx.TimeoutException):
            raise LLMError(provider, "timeout", f"no answer within {timeout:.1f}s") from None
        except httpx.HTTPError as exc:
            raise LLMError(provider, "unreachable", str(exc) or type(exc).__name__) from None
        if not 200 <= response.status_code < 300:
            raise LLMError(provider, str(response.status_code), _error_reason(provider, response))

    async def check(self, timeout: float) -> None:
        """Ready if the primary answers, or (LOCAL_LLM_ENABLED) the fallback does."""
        results = await asyncio.gather(
            *(self._check_one(p, timeout) for p in self.chain), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if len(failures) < len(results):
            return
        reasons = [f.short() if isinstance(f, LLMError) else repr(f) for f in failures]
        raise LLMError(self.chain[0], "unready", "; ".join(reasons))
