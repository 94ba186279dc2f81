"""Production's addresses, as the runbook writes them, that are not in the compose file.

The compose file (`harness/compose.py`) is the stack's topology; these are the names the
runbook's commands use for it: the API on `localhost:8000`, the hosted LLM providers'
hostnames (the mock provider in a gameday, never the internet), the fault proxy's API port.
"""

from __future__ import annotations

API_PORT = 8000  # production's published port for the TestGen API (`localhost:8000`)
PROXY_API_PORT = 8474  # the Toxiproxy API inside the stack
# Provider hosts the runbook calls -> (compose service, port) that plays them.
PROVIDER_HOSTS = {"api.openai.com": ("llm", 8080), "api.anthropic.com": ("llm", 8080)}
# Host names that mean "this machine" in a runbook command.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})
