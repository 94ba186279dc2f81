"""What a verdict learned only from a stand-in, and what a step did against the deployment
without saying so: lines for a result's `unchecked` and its not-recovered reason.

    unchecked_lines(stack.stand_ins(), detected_by=run.command, verdict="recovered")
      -> ["detected by `grep llm_error /var/log/testgen/app.log` in a log that only the
           stand-in writes; the deployment logs to stdout", "recovered per the stand-in
           API's /health, /ready and /v1/generate; the deployment runs no HTTP server"]
    silent_no_ops(resolution_runs, "deployments/testgen-runbook-era/docker-compose.yml:34")
      -> ["step line 135 `redis-cli FLUSHALL` answered NOAUTH Authentication required. and
           exited 0: nothing was flushed; ..."]

Pure functions of the records (no stack), so the runner calls them and tests need no stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.compose import StandIn
from harness.result import StepRun

NOAUTH = "NOAUTH Authentication required."


def _reaches(command: str, address: str) -> bool:
    """The command names `address` (`localhost:8000`, also as 127.0.0.1 or a file path)."""
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and host in ("localhost", "127.0.0.1"):
        return re.search(rf"(localhost|127\.0\.0\.1|0\.0\.0\.0):{port}\b", command) is not None
    return address in command


def _names(command: str, name: str) -> bool:
    """The command names a service or container as a whole word (`ollama`, not
    `ollama-data`, `testgen-copilot`, not `testgen-copilot-dev`)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", command) is not None


def unchecked_lines(
    stand_ins: Iterable[StandIn],
    detected_by: str | None,
    verdict: str | None,
    resolution: Iterable[str] = (),
) -> list[str]:
    """A line per verdict part that rests on a stand-in: the step that detected the fault
    reached one (the stand-in API's port, a log only the stand-in writes), a resolution
    step that ran acted on one (the GPU-less ollama mock), or the verdict (None when no
    verify window ran) was judged through the stand-in API's endpoints."""
    out = []
    resolution = list(resolution)
    for stand_in in stand_ins:
        if stand_in.service is None:  # a file the runbook reads
            if detected_by and stand_in.name in detected_by:
                out.append(
                    f"detected by `{detected_by}` in a log that only the stand-in writes; "
                    f"the deployment logs to stdout ({stand_in.name} is the stand-in's)"
                )
            continue
        acted = [
            c for c in resolution if re.search(rf"(?<![\w-]){re.escape(stand_in.service)}\b", c)
        ]
        if acted and not stand_in.serves:
            out.append(
                f"resolved with `{acted[-1]}` on the stand-in {stand_in.name}: "
                f"{stand_in.reason.split(';')[0]}"
            )
        served = [a for a in stand_in.serves if detected_by and _reaches(detected_by, a)]
        if (
            detected_by
            and not served
            and stand_in.container
            and _names(detected_by, stand_in.container)
        ):
            out.append(
                f"detected by `{detected_by}` in the container of the stand-in "
                f"{stand_in.name} (its output, its process); what the deployment's "
                f"{stand_in.container} shows there is not checked"
            )
        if served:
            out.append(
                f"detected by `{detected_by}` against the stand-in {stand_in.name}; "
                f"the deployment serves nothing on {served[0]}"
            )
        if verdict is not None and stand_in.serves:
            judged = {
                "recovered": "recovered per",
                "undetected": "the resolution's outcome (second finding) judged by",
            }.get(verdict, f"{verdict}: judged by")
            out.append(
                f"{judged} the stand-in API's /health, /ready and /v1/generate "
                f"({stand_in.name}); {stand_in.deployment}"
            )
    return out


def silent_no_ops(runs: Iterable[StepRun], requirepass_at: str | None) -> list[str]:
    """Steps that exited 0 yet did nothing because Redis requires a password: a host
    `redis-cli` without `-a` gets NOAUTH and real redis-cli still exits 0."""
    out = []
    for run in runs:
        said = f"{run.stdout}\n{run.stderr}"
        if run.exit_code == 0 and NOAUTH in said:
            where = f" ({requirepass_at} `--requirepass`)" if requirepass_at else ""
            out.append(
                f"step line {run.line} `{run.command}` answered `{NOAUTH}` and exited 0: "
                f"it changed nothing, the deployment's Redis requires a password{where}"
            )
    return out
