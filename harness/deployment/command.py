"""`gameday lint --deployment DIR RUNBOOK`: the drift report on the terminal (or as JSON,
or Markdown). Exit status 0: no drift, 1: drift found; bad input (no such dir, no compose
file, a runbook that does not parse) is raised as BadInput, which the CLI turns into one
line and exit status 2."""

from __future__ import annotations

import json
import sys

from harness.deployment.drift import drift_report
from harness.deployment.render import to_markdown, to_text


def lint_deployment(
    runbook: str, deployment: str, as_json: bool, as_markdown: bool, ask_engine: bool
) -> int:
    report = drift_report(deployment, [runbook], engine=ask_engine)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    elif as_markdown:
        sys.stdout.write(to_markdown(report))
    else:
        sys.stdout.write(to_text(report))
    return report.exit_status
