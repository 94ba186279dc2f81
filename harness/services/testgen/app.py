"""The TestGen API as a Starlette application: routes and the request flow.

POST /v1/generate: validate → rate limit (Redis INCR per client and minute,
declared in `RateLimit-*`/`X-RateLimit-*` headers and `Retry-After` on 429) → cache (Redis, by
sha256 of language+source) → LLM (primary, then Ollama when LOCAL_LLM_ENABLED) → INSERT
the job and COMMIT → 200. Redis failures degrade (no limit, no cache); LLM failures are
502; database failures are 500. Each failure writes one ERROR line with its marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.services.contract import content_key

from . import chaos
from .cache import Cache, RedisUnavailable, client_id
from .config import Config
from .llm import LLM, LLMError
from .log import kv
from .metrics import Instrument, Metrics
from .store import DatabaseError, JobStore

READY_TIMEOUT = 0.9
MAX_SOURCE_BYTES = 200_000


def rate_limit_headers(limit: int, count: int, reset_s: int) -> dict[str, str]:
    """The client's limit as real APIs declare it: the IETF draft's `RateLimit-*` fields and
    the common `X-RateLimit-*` ones (limit per minute, requests left, seconds to the reset)."""
    remaining = str(max(0, limit - count))
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": remaining,
        "RateLimit-Reset": str(reset_s),
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": remaining,
    }


def _error(code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code)


async def _read_request(request: Request) -> tuple[str, str] | Response:
    """The request's (language, source), or the 400/413 answer to a body that lacks them."""
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    language, source = body.get("language"), body.get("source")
    if not isinstance(language, str) or not language.strip():
        return _error(400, "language must be a non-empty string")
    if not isinstance(source, str) or not source.strip():
        return _error(400, "source must be a non-empty string")
    if len(source.encode()) > MAX_SOURCE_BYTES:
        return _error(413, f"source larger than {MAX_SOURCE_BYTES} bytes")
    return language, source


class Service:
    def __init__(self, config: Config, log: logging.Logger) -> None:
        self.config, self.log = config, log
        self.metrics = Metrics()
        self.store = JobStore(config.database_url)
        self.cache = Cache(config.redis_url)
        self.llm = LLM(config, self.metrics, log)
        # Chaos hook for the "large objects in cache" incident: with hooks on, every cache
        # entry read is also kept in process, unbounded (the leak the OOM gameday exercises).
        self.hot_cache: dict[str, dict[str, Any]] | None = {} if config.chaos_hooks else None

    # -- lifecycle -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.store.open()  # non-blocking: starts even while PostgreSQL is down
        self.log.info("testgen ready to serve %s", kv(
            primary_llm=self.config.primary_llm_provider,
            local_llm=str(self.config.local_llm_enabled).lower(),
            rate_limit=self.config.llm_rate_limit,
            chaos_hooks="on" if self.config.chaos_hooks else "off",
        ))
        try:
            yield
        finally:
            self.log.info("testgen shutting down")
            await asyncio.gather(self.store.close(), self.cache.close(), self.llm.close(),
                                 return_exceptions=True)

    # -- helpers -----------------------------------------------------------------------------

    def _redis_down(self, exc: RedisUnavailable, op: str) -> None:
        self.log.error("redis unavailable: %s %s", exc, kv(op=op, action="degraded"))

    def _db_down(self, exc: DatabaseError, op: str) -> JSONResponse:
        self.log.error("database unavailable: %s %s", exc, kv(op=op))
        return _error(500, "database unavailable")

    # -- endpoints ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def generate(self, request: Request) -> Response:
        declared: dict[str, str] = {}  # the client's rate limit, on every answer past the check
        response = await self._generate(request, declared)
        response.headers.update(declared)
        return response

    async def _generate(self, request: Request, declared: dict[str, str]) -> Response:
        read = await _read_request(request)
        if isinstance(read, Response):
            return read
        language, source = read
        key = content_key(language, source)
        refused, redis_ok = await self._rate_limit(request, declared)
        if refused is not None:
            return refused
        cached, redis_ok = await self._cached(key) if redis_ok else (None, False)
        if cached is not None:
            if self.hot_cache is not None:
                self.hot_cache[key] = cached
            tests, provider = cached["tests"], cached["provider"]
        else:
            try:
                tests, provider = await self.llm.generate(language, source)
            except LLMError as exc:
                return _error(502, "LLM provider unavailable", provider=exc.provider,
                              provider_status=exc.status, reason=exc.reason)
            if redis_ok:
                try:
                    await self.cache.put(key, tests, provider)
                except RedisUnavailable as exc:
                    self._redis_down(exc, "cache_put")

        job_id = str(uuid.uuid4())
        try:
            await self.store.insert(job_id, language, key, tests, provider)
        except DatabaseError as exc:
            return self._db_down(exc, "insert_job")
        return JSONResponse(
            {"job_id": job_id, "tests": tests, "provider": provider, "cached": cached is not None}
        )

    async def _rate_limit(
        self, request: Request, declared: dict[str, str]
    ) -> tuple[Response | None, bool]:
        """The 429 answer when the client is over its limit (else None), and whether Redis
        answered. The limit is declared in `declared` for every answer past the check."""
        limit = self.config.llm_rate_limit
        if limit <= 0:
            return None, True
        try:
            client = client_id(request.headers, request.client.host if request.client else None)
            over, count, reset_s = await self.cache.hit_rate_limit(limit, client)
        except RedisUnavailable as exc:
            self._redis_down(exc, "rate_limit")
            return None, False
        declared.update(rate_limit_headers(limit, count, reset_s))
        if not over:
            return None, True
        self.log.info("rate limited %s", kv(client=client, count=count, limit=limit))
        return JSONResponse(
            {"error": "rate limit exceeded", "limit_per_minute": limit},
            status_code=429, headers={"Retry-After": str(reset_s)},
        ), True

    async def _cached(self, key: str) -> tuple[dict[str, Any] | None, bool]:
        """The cache entry for `key` (None on a miss), and whether Redis answered."""
        try:
            return await self.cache.get(key), True
        except RedisUnavailable as exc:
            self._redis_down(exc, "cache_get")
            return None, False

    async def get_job(self, request: Request) -> Response:
        job_id = request.path_params["id"]
        try:
            uuid.UUID(job_id)
        except ValueError:
            return _error(404, "job not found")
        try:
            job = await self.store.get(job_id)
        except DatabaseError as exc:
            return self._db_down(exc, "get_job")
        if job is None:
            return _error(404, "job not found")
        return JSONResponse(job.to_json())

    async def ready(self, request: Request) -> Response:
        async def check(name: str, probe: Any) -> tuple[str, str]:
            try:
                await probe
            except (DatabaseError, RedisUnavailable, LLMError) as exc:
                reason = exc.reason if isinstance(exc, LLMError) else str(exc)
                return name, f"error: {reason}"
            except Exception as exc:  # a check must never take /ready down with it
                return name, f"error: {type(exc).__name__}: {exc}"
            return name, "ok"

        results = dict(await asyncio.gather(
            check("postgres", self.store.ping(READY_TIMEOUT)),
            check("redis", self.cache.ping(READY_TIMEOUT)),
            check("llm", self.llm.check(READY_TIMEOUT)),
        ))
        ok = all(v == "ok" for v in results.values())
        if not ok:
            self.log.warning("not ready %s", kv(**results))
        return JSONResponse(results, status_code=200 if ok else 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    # -- assembly ----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/ready", self.ready, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            Route("/v1/generate", self.generate, methods=["POST"]),
            Route("/v1/jobs/{id}", self.get_job, methods=["GET"]),
        ]
        if self.config.chaos_hooks:
            routes += chaos.routes(self.log)
        return routes


def create_app(config: Config, log: logging.Logger) -> Any:
    """The ASGI app: Starlette wrapped in the metrics/request-log middleware."""
    service = Service(config, log)
    app = Starlette(routes=service.routes(), lifespan=service.lifespan)
    return Instrument(app, service.metrics, log)
