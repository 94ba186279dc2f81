"""The mock provider's routes: OpenAI, Anthropic, Ollama, and the /_chaos control API.

Provider routes behave like the real APIs where the harness can tell the difference:
OpenAI and Anthropic need a key (401 in their own error shape without one; a bare
`Bearer ` counts as no key, as it does for OpenAI); with the quota exhausted OpenAI still
lists /v1/models (200) and reports /v1/usage, while completions get 429
insufficient_quota. Anthropic's quota error is its real one: 400 invalid_request_error
"credit balance is too low". GET /v1/models answers as Anthropic when the request carries
x-api-key and no Authorization header, else as OpenAI.

Request headers are never logged (they carry the API keys).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..testgen.log import kv, timestamp
from . import answers
from .state import HANG_LIMIT_S, State, parse_mode


def log(level: str, message: str) -> None:
    print(f"{timestamp()} {level} {message}", file=sys.stderr, flush=True)


# -- provider error bodies ----------------------------------------------------------------

def _openai_error(status: int, message: str, type_: str, code: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": code}},
        status_code=status,
    )


def _anthropic_error(status: int, type_: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"type": "error", "error": {"type": type_, "message": message}}, status_code=status
    )


def _ollama_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def quota_error(provider: str) -> Response:
    if provider == "openai":
        return _openai_error(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota", "insufficient_quota",
        )
    if provider == "anthropic":
        return _anthropic_error(
            400, "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits.",
        )
    return _ollama_error(429, "quota exceeded")


def rate_limit_error(provider: str, retry_after: int) -> Response:
    if provider == "openai":
        response: Response = _openai_error(
            429, "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, "
            f"Used 3, Requested 1. Please try again in {retry_after}s.",
            "requests", "rate_limit_exceeded",
        )
    elif provider == "anthropic":
        response = _anthropic_error(
            429, "rate_limit_error",
            "This request would exceed the rate limit for your organization.",
        )
    else:
        response = _ollama_error(429, "too many requests")
    response.headers["Retry-After"] = str(retry_after)
    return response


def server_error(provider: str) -> Response:
    if provider == "openai":
        return _openai_error(
            500, "The server had an error while processing your request. Sorry about that!",
            "server_error", None,
        )
    if provider == "anthropic":
        return _anthropic_error(500, "api_error", "Internal server error")
    return _ollama_error(500, "llama runner process has terminated")


def auth_error(provider: str) -> Response:
    if provider == "openai":
        return _openai_error(
            401, "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error", None,
        )
    return _anthropic_error(401, "authentication_error", "x-api-key header is required")


def malformed() -> Response:
    return Response('{"id": "chatcmpl-mock", "choices": [{"message": {"content": "import py',
                    status_code=200, media_type="application/json")


def has_key(provider: str, request: Request) -> bool:
    if provider == "openai":
        value = request.headers.get("authorization", "").strip()
        scheme, _, token = value.partition(" ")
        return bool(token.strip()) if scheme.lower() == "bearer" else bool(value)
    return bool(request.headers.get("x-api-key", "").strip())


# -- the request flow ---------------------------------------------------------------------

Handler = Callable[[], Response]


class MockLLM:
    def __init__(self) -> None:
        self.state = State()

    async def _disconnected(self, request: Request) -> bool:
        try:
            return await request.is_disconnected()
        except Exception:
            return True

    async def serve(self, request: Request, provider: str, completion: bool,
                    ok: Handler) -> Response:
        """Apply the provider's mode, then `ok()` (or the mode's failure)."""
        started = time.monotonic()
        if provider != "ollama" and not has_key(provider, request):
            return self._done(request, provider, auth_error(provider))
        n = self.state.count_request(provider)
        hung = False
        while True:
            mode = self.state.modes[provider]
            if mode.mode == "hang":
                if not hung:
                    self.state.hangs[provider] += 1
                    hung = True
                event = self.state.changed(provider)
                remaining = HANG_LIMIT_S - (time.monotonic() - started)
                if remaining <= 0:
                    return self._done(request, provider, _openai_error(
                        504, "upstream hang limit reached", "timeout", None))
                try:
                    await asyncio.wait_for(event.wait(), min(0.25, remaining))
                except TimeoutError:
                    if await self._disconnected(request):
                        self.state.count_response(provider, "dropped", request.url.path)
                        return Response(status_code=499)
                continue
            break
        if mode.delay_ms:
            await asyncio.sleep(mode.delay_ms / 1000.0)
        if mode.mode == "malformed":
            response = malformed()
        elif mode.mode == "server_error" and self.state.fails(n, mode.ratio):
            response = server_error(provider)
        elif mode.mode == "quota_exceeded" and completion:
            response = quota_error(provider)
        elif mode.mode == "rate_limited" and completion:
            response = rate_limit_error(provider, mode.retry_after)
        else:
            response = ok()
        return self._done(request, provider, response, mode.mode)

    def _done(self, request: Request, provider: str, response: Response,
              mode: str = "ok") -> Response:
        self.state.count_response(provider, response.status_code, request.url.path)
        log("INFO", "request " + kv(provider=provider, method=request.method,
                                    path=request.url.path, status=response.status_code,
                                    mode=mode))
        return response

    # -- provider routes -------------------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def chat_completions(self, request: Request) -> Response:
        body = await self._body(request)

        def ok() -> Response:
            if body is None:
                return _openai_error(400, "We could not parse the JSON body of your request.",
                                     "invalid_request_error", None)
            try:
                prompt = answers.prompt_of_openai(body)
            except ValueError as exc:
                return _openai_error(400, str(exc), "invalid_request_error", None)
            result = answers.openai_completion(str(body.get("model", "gpt-4o-mini")), prompt)
            self.state.tokens["openai"] += result["usage"]["total_tokens"]
            return JSONResponse(result)

        return await self.serve(request, "openai", True, ok)

    async def models(self, request: Request) -> Response:
        anthropic = "x-api-key" in request.headers and "authorization" not in request.headers
        if anthropic:
            return await self.serve(request, "anthropic", False,
                                    lambda: JSONResponse(answers.anthropic_models()))
        return await self.serve(request, "openai", False,
                                lambda: JSONResponse(answers.openai_models()))

    async def usage(self, request: Request) -> Response:
        def ok() -> Response:
            exhausted = self.state.modes["openai"].mode == "quota_exceeded"
            n = self.state.responses["openai"].get("200", 0)
            return JSONResponse({
                "object": "list",
                "data": [{
                    "aggregation_timestamp": int(time.time()) // 300 * 300,
                    "n_requests": n,
                    "operation": "completion",
                    "snapshot_id": "gpt-4o-mini",
                    "n_context_tokens_total": self.state.tokens["openai"],
                    "n_generated_tokens_total": 0,
                }],
                "total_usage": 12000.0 if exhausted else round(self.state.tokens["openai"]
                                                               * 0.0015, 4),
                "hard_limit_usd": 120.0,
                "quota_exceeded": exhausted,
            })

        return await self.serve(request, "openai", False, ok)

    async def messages(self, request: Request) -> Response:
        body = await self._body(request)

        def ok() -> Response:
            if body is None:
                return _anthropic_error(400, "invalid_request_error", "invalid JSON body")
            try:
                prompt = answers.prompt_of_anthropic(body)
            except ValueError as exc:
                return _anthropic_error(400, "invalid_request_error", str(exc))
            result = answers.anthropic_message(
                str(body.get("model", "claude-3-5-haiku-latest")), prompt)
            return JSONResponse(result)

        return await self.serve(request, "anthropic", True, ok)

    async def ollama_generate(self, request: Request) -> Response:
        body = await self._body(request)

        def ok() -> Response:
            if body is None:
                return _ollama_error(400, "invalid JSON body")
            try:
                prompt = answers.prompt_of_ollama(body)
            except ValueError as exc:
                return _ollama_error(400, str(exc))
            result = answers.ollama_generate(str(body.get("model", "codellama")), prompt)
            if body.get("stream", True) is False:
                return JSONResponse(result)
            # Ollama streams NDJSON unless told otherwise: one chunk, then the final one.
            first = {**result, "done": False}
            first.pop("done_reason", None)
            final = {**result, "response": ""}
            return Response(json.dumps(first) + "\n" + json.dumps(final) + "\n",
                            media_type="application/x-ndjson")

        return await self.serve(request, "ollama", True, ok)

    async def ollama_tags(self, request: Request) -> Response:
        return await self.serve(request, "ollama", False,
                                lambda: JSONResponse(answers.ollama_tags()))

    # -- control API -------------------------------------------------------------------------

    async def chaos_health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def chaos_mode(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                providers, mode = parse_mode(await request.json())
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            for provider in providers:
                self.state.set_mode(provider, mode)
                log("INFO", "mode " + kv(provider=provider, **mode.to_json()))
        return JSONResponse(self.state.modes_json())

    async def chaos_stats(self, request: Request) -> Response:
        return JSONResponse(self.state.stats())

    async def chaos_reset(self, request: Request) -> Response:
        self.state.reset()
        log("INFO", "reset")
        return JSONResponse({"status": "reset", **self.state.modes_json()})

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/usage", self.usage, methods=["GET"]),
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/api/generate", self.ollama_generate, methods=["POST"]),
            Route("/api/tags", self.ollama_tags, methods=["GET"]),
            Route("/_chaos/health", self.chaos_health, methods=["GET"]),
            Route("/_chaos/mode", self.chaos_mode, methods=["GET", "PUT"]),
            Route("/_chaos/stats", self.chaos_stats, methods=["GET"]),
            Route("/_chaos/reset", self.chaos_reset, methods=["POST"]),
        ]


def create_app() -> Starlette:
    return Starlette(routes=MockLLM().routes())
