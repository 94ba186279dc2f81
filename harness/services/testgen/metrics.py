"""Prometheus metrics (own registry) and the ASGI middleware that records every request.

Exposed at /metrics: http_requests_total{method,path,status}, active_requests,
http_request_duration_seconds{method,path}, llm_requests_total{provider,status}, and the
process collector's process_resident_memory_bytes (and friends). `path` is the route
template (/v1/jobs/{id}), never the raw path, so label cardinality stays bounded.

The middleware also writes the INFO request line (`request method=.. path=.. status=..
duration_ms=..`); successful probe traffic (/health, /ready, /metrics) is not logged, so
`docker logs --tail 50` keeps showing what happened rather than health checks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from .log import kv

Scope = dict[str, Any]
ASGIApp = Any

_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.http_requests = Counter(
            "http_requests", "HTTP requests served", ["method", "path", "status"],
            registry=self.registry,
        )
        self.active_requests = Gauge(
            "active_requests", "HTTP requests in progress", registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["method", "path"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.llm_requests = Counter(
            "llm_requests", "Calls to LLM providers", ["provider", "status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Instrument:
    """Pure ASGI middleware (no BaseHTTPMiddleware: no extra task per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, log: logging.Logger) -> None:
        self.app, self.metrics, self.log = app, metrics, log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.active_requests.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            status = 500
            self.log.error("unhandled exception %s", kv(
                method=scope["method"], path=scope["path"], exc=f"{type(exc).__name__}: {exc}"
            ))
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.active_requests.dec()
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.http_requests.labels(method, path, str(status)).inc()
            self.metrics.duration.labels(method, path).observe(elapsed)
            if not (scope["path"] in _QUIET_PATHS and status < 400):
                line = "request " + kv(method=method, path=scope["path"], status=status,
                                       duration_ms=f"{elapsed * 1000:.1f}")
                if status >= 500:
                    self.log.warning(line)
                else:
                    self.log.info(line)
