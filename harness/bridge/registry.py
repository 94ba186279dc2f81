"""The bridged tools: which commands on the operator's PATH (and inside `docker exec`) the
bridge answers, and with what. A new runbook command is one module in `harness/bridge/tools/`
that registers itself:

    @bridged("kubectl")
    def kubectl(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer: ...

`bridged_tools()` imports every module of that package once (its `__path__`, so a plugin
directory appended to it is searched too); the bridge server, the linter and the mutation
check all ask it, so a tool registered here is bridged everywhere, never reported manual.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from harness.backends.base import Stack
from harness.bridge.protocol import Answer, Invocation

Handler = Callable[[Stack, Invocation, "str | None"], Answer]  # (stack, call, shim dir)

TOOLS_PACKAGE = "harness.bridge.tools"


@dataclass(frozen=True)
class Tool:
    name: str
    handler: Handler
    operator: bool  # on the operator's PATH
    container: bool  # also inside `docker exec` (tools that resolve service names)


TOOLS: dict[str, Tool] = {}
_imported: set[str] = set()  # tool modules already imported (each registers once)


def bridged(
    name: str, *, operator: bool = True, container: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        TOOLS[name] = Tool(name, handler, operator, container)
        return handler

    return register


def bridged_tools() -> dict[str, Tool]:
    """Every registered tool, after importing each module of `harness.bridge.tools` (once)."""
    package = importlib.import_module(TOOLS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        name = f"{TOOLS_PACKAGE}.{module.name}"
        if name not in _imported:
            _imported.add(name)
            importlib.import_module(name)
    return dict(TOOLS)
