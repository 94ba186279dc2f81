"""The reference TestGen service: the API the gameday harness breaks and the runbook fixes.

Usage::

    TESTGEN_DATABASE_URL=postgresql://testgen:pw@127.0.0.1:5432/testgen \\
    TESTGEN_REDIS_URL=redis://127.0.0.1:6379/0 \\
    TESTGEN_SECRET_KEY=... \\
    OPENAI_API_BASE=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-... \\
    python -m harness.services.testgen

Environment (nothing else configures it):

    required  TESTGEN_DATABASE_URL (postgresql://), TESTGEN_REDIS_URL (redis://),
              TESTGEN_SECRET_KEY
    server    TESTGEN_HOST (0.0.0.0), TESTGEN_PORT (8000), TESTGEN_LOG_FILE (append)
    LLM       PRIMARY_LLM_PROVIDER (openai|anthropic), OPENAI_API_BASE, OPENAI_API_KEY,
              ANTHROPIC_API_BASE, ANTHROPIC_API_KEY, LOCAL_LLM_ENABLED (false),
              OLLAMA_BASE_URL (http://127.0.0.1:11434), LLM_RATE_LIMIT (60/min per client:
              the X-Api-Key or Authorization header, else the address; 0 = off)
    faults    TESTGEN_CHAOS_HOOKS=1 mounts /_chaos/memory (absent otherwise)

Provider bases have no public default: an unset base is a provider failure
(`llm_error ... status=unconfigured`), never a request to the real API.

Exit status: 0 after SIGTERM/SIGINT, 78 configuration error, 98 port in use, 71 other bind
failure; refusals print `testgen: refusing to start: <reason>` (one line, stderr) and
append an ERROR line to TESTGEN_LOG_FILE.

Endpoints: POST /v1/generate, GET /v1/jobs/{id}, GET /health (liveness), GET /ready
(postgres, redis, llm; 200 or 503), GET /metrics (Prometheus).

Log lines `<UTC ISO time> LEVEL message key=value` on stderr and in TESTGEN_LOG_FILE;
failure markers: `ERROR llm_error provider=.. status=.. reason=..`, `ERROR database
unavailable: ..`, `ERROR redis unavailable: ..`. Healthy operation logs none of them.
"""

# Imported only once the service starts (after the environment is checked and the port
# bound, so a refusal stays fast); a preloading parent imports them ahead of its forks.
PRELOAD = ("uvicorn", "httpcore")
