"""The gameday harness: would our runbook actually work tonight?

It brings up the TestGen stack, injects the fault behind each incident of the runbook, runs
the runbook's own detection and resolution steps with their production meaning, and judges
the outcome. The flow, one home per step (docs/architecture.md):

    runbook/ (parse) ─▶ suite/ (scenarios as data) ─▶ run/ (gameday gathers records,
    verdict judges them) ─▶ reports/ (views of GamedayResult)
    with backends/ (the stack), faults/, bridge/ (runbook commands), observe/ (probes, load)

Public API (everything else is internal and may change):

    from harness import Gameday, make_stack, parse_runbook, scenarios, ComposeFile
    runbook = parse_runbook("runbooks/incident-response.md")
    compose = ComposeFile("docker-compose.chaos.yml")
    result = Gameday(runbook, scenarios(runbook.path)["service-down"],
                     lambda env: make_stack("local", compose, env)).run()
    print(result.summary())

Imports are lazy: the services started from this package (`python -m harness.services...`)
do not pay for the runner's imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Gameday": "harness.run.gameday",
    "Scenario": "harness.run.scenario",
    "decide": "harness.run.verdict",
    "GamedayResult": "harness.result",
    "Verdict": "harness.result",
    "parse_runbook": "harness.runbook.parse",
    "Runbook": "harness.runbook.model",
    "ComposeFile": "harness.compose",
    "make_stack": "harness.backends",
    "register_backend": "harness.backends",
    "Stack": "harness.backends.base",
    "Fault": "harness.faults.base",
    "bridged": "harness.bridge.registry",
    "read_run": "harness.reports.json_results",
    "write_run": "harness.reports.json_results",
    "HarnessError": "harness.errors",
    "BadInput": "harness.errors",
}
_FUNCTIONS = {"scenarios": ("harness.suite.catalog", "for_runbook")}

__all__ = sorted([*_EXPORTS, *_FUNCTIONS])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _FUNCTIONS:
        module, attr = _FUNCTIONS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
