"""The bridged tools: which commands on the operator's PATH (and inside `docker exec`) the
bridge answers, and with what. A new runbook command is one module that registers itself:

    @bridged("kubectl")
    def kubectl(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer: ...

Tool modules live in `harness.bridge` and are imported by the server (`TOOL_MODULES`), or by
whoever defines a tool (a test, a plugin) before the bridge starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.backends.base import Stack
from harness.bridge.protocol import Answer, Invocation

Handler = Callable[[Stack, Invocation, "str | None"], Answer]  # (stack, call, shim dir)

# The modules whose tools the bridge always serves.
TOOL_MODULES = ("harness.bridge.docker_cli", "harness.bridge.compose_cli", "harness.bridge.routes")


@dataclass(frozen=True)
class Tool:
    name: str
    handler: Handler
    operator: bool  # on the operator's PATH
    container: bool  # also inside `docker exec` (tools that resolve service names)


TOOLS: dict[str, Tool] = {}


def bridged(
    name: str, *, operator: bool = True, container: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        TOOLS[name] = Tool(name, handler, operator, container)
        return handler

    return register
