"""What a review says about the team's deployment: the drift findings that change its
scenario, and the stand-ins the stack supplied in the deployment's place (results.json's
`run.drift` and `run.stand_ins`). A gameday verdict is about the deployment only where the
deployment defines the component; the review names where it is not."""

from __future__ import annotations

from typing import Any

from harness.result import GamedayResult


def deployment_section(
    result: GamedayResult, drift: dict[str, Any] | None, stand_ins: list[dict[str, Any]]
) -> list[str]:
    """Markdown lines (empty when the run had no deployment under its stack)."""
    findings = [
        f for f in (drift or {}).get("findings", []) if result.scenario in f.get("scenarios", [])
    ]
    if drift is None and not stand_ins:
        return []
    out = ["## Against the deployment", ""]
    where = (drift or {}).get("deployment", "the deployment")
    if findings:
        out.append(f"The runbook's steps against `{where}` (drift report):")
        for f in findings:
            step: dict[str, Any] = next(iter(f.get("runbook", [])), {})
            dep: dict[str, Any] = next(iter(f.get("deployment", [])), {})
            at = f"{dep.get('path', '?')}:{dep.get('line') or '?'}"
            line = f"line {step.get('line')}" if step else "the runbook"
            out.append(f"- **{f.get('effect', '?')}** ({line}; {at}): {f.get('message', '')}")
    elif drift is not None:
        out.append(f"No drift finding of `{where}` touches this scenario.")
    if stand_ins:
        out += ["", "Stand-ins the stack supplied because the deployment lacks them:"]
        out += [f"- {s.get('name', '?')}: {s.get('reason', '')}" for s in stand_ins]
    return out + [""]
