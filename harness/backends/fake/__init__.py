"""The `fake` backend: the TestGen stack in memory, for testing the runner and the verdict
rules without processes.

Containers are state machines (created, running, exited, restarting; exit codes, restart
counts, the compose file's restart policies), and each running one has a real server on a
loopback port, in this process: the TestGen API is the reference service's own app
(`api.py` serves `harness/services/testgen/app.py`: its routes, rate limit, cache, LLM
fallback, metrics and log lines), with a mock LLM with the `/_chaos` control API, a small
Redis (RESP2/3), PostgreSQL's wire protocol for the few statements the harness itself
sends (the API's jobs and those rows live in the named volume, so they survive restarts
but not `down -v`), and the project's own fault proxy (`proxy.py`).

Every fault of the catalog works on it: `service-killed`, `process-crash`,
`missing-variable`, `llm-provider`, `network` (cut links and toxics act on real
connections through the fault proxy), `port-conflict` (the squatter is a real process that
the fake API cannot bind past), and `memory-pressure` / `cache-bloat`, whose memory is a
figure compared with `mem_limit` (past it: an OOM kill, exit 137, `OOMKilled`). What it does
not model: real memory, CPU, processes of its own (pids are above PID_MAX_LIMIT), and SQL
beyond those statements (`psql` answers with no rows).

Chosen only by name (`--backend fake`, `GAMEDAY_BACKEND=fake`, tests); `auto` never picks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.backends.fake.stack import FakeStack, NotSupportedOnFake

__all__ = ["FakeStack", "NotSupportedOnFake"]


def __getattr__(name: str) -> Any:  # loaded on first use: discovery imports only backend.py
    if name in __all__:
        from harness.backends.fake import stack

        return getattr(stack, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
