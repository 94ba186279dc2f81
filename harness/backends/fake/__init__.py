"""The `fake` backend: the TestGen stack in memory, for testing the runner and the verdict
rules without processes.

Containers are state machines (created, running, exited, restarting; exit codes, restart
counts, the compose file's restart policies), and each running one has a real server on a
loopback port, played in this process: the TestGen API (`/health`, `/ready` with its
per-dependency body, `/v1/generate`, `/v1/jobs/{id}`, `/metrics`), a mock LLM with the
`/_chaos` control API, a small Redis, PostgreSQL's startup handshake (rows live in the named
volume, so they survive restarts but not `down -v`), and the project's own fault proxy.

Faults that work on it: `service-killed`, `process-crash`, `missing-variable`,
`llm-provider`, `network` (a cut link; toxics act on real connections too). Faults that
need real memory or real processes holding ports (`memory-pressure`, `port-conflict`,
`cache-bloat`) are not modelled.

Chosen only by name (`--backend fake`, `GAMEDAY_BACKEND=fake`, tests); `auto` never picks it.
"""

from harness.backends.fake.stack import FakeStack, NotSupportedOnFake

__all__ = ["FakeStack", "NotSupportedOnFake"]
