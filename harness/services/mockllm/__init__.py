"""Mock LLM provider: OpenAI, Anthropic and Ollama APIs with switchable fault modes.

Usage::

    python -m harness.services.mockllm --host 127.0.0.1 --port 8080

Provider routes: POST /v1/chat/completions, GET /v1/models, GET /v1/usage (OpenAI);
POST /v1/messages, GET /v1/models with x-api-key (Anthropic); POST /api/generate,
GET /api/tags (Ollama). Answers are deterministic (a hash of the prompt) pytest modules.

Control API:

    GET  /_chaos/health                  200 {"status": "ok"}
    GET  /_chaos/mode                    every provider's mode
    PUT  /_chaos/mode   {"provider": "openai"|"anthropic"|"ollama"|"all",
                         "mode": "ok"|"quota_exceeded"|"rate_limited"|"server_error"
                                 |"slow"|"hang"|"malformed",
                         "delay_ms": int, "ratio": 0..1, "retry_after": s}   (optional)
    GET  /_chaos/stats                   {provider: {requests, responses{status: n},
                                          hangs, mode, routes{path: {status: n}}}}
                                         (status "dropped": a hung client gave up)
    POST /_chaos/reset                   all modes ok, statistics cleared

Exit status: 0 after SIGTERM/SIGINT, 98 port in use, 71 other bind failure, 2 bad usage.
"""

# Imported only once the server starts (after the port is bound); a preloading parent
# imports them ahead of its forks.
PRELOAD = ("uvicorn",)
