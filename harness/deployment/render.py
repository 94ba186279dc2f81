"""The drift report on the terminal and as Markdown (the JSON is `DriftReport.to_dict()`)."""

from __future__ import annotations

from harness.deployment.report import DriftReport, Finding
from harness.deployment.steps import StepRef

TERMINAL_STEPS = 4  # runbook steps shown per finding on the terminal; Markdown shows all


def _headline(report: DriftReport) -> str:
    runbooks = ", ".join(report.runbooks)
    if not report.findings:
        return f"drift: {runbooks} against {report.deployment}: no drift"
    counts = ", ".join(f"{n} {effect}" for effect, n in report.by_effect().items())
    return (
        f"drift: {runbooks} against {report.deployment}: {len(report.findings)} findings ({counts})"
    )


def _step(s: StepRef) -> str:
    command = s.command.replace("\\\n", " ").splitlines()[0] if s.command else ""
    return f"{s.path}:{s.line}  {command}"


def to_text(report: DriftReport) -> str:
    lines = [_headline(report), ""]
    for i, f in enumerate(report.findings, 1):
        lines.append(f"{i}. [{f.effect}] {f.rule}: {f.message}")
        shown = f.runbook[:TERMINAL_STEPS]
        for j, s in enumerate(shown):
            lines.append(f"   {'runbook' if j == 0 else '':10} {_step(s)}")
        if len(f.runbook) > TERMINAL_STEPS:
            lines.append(f"   {'':10} … and {len(f.runbook) - TERMINAL_STEPS} more steps")
        if not f.runbook:
            lines.append(f"   {'runbook':10} (no step: the deployment alone)")
        for j, d in enumerate(f.deployment):
            text = f"  {d.text}" if d.text else ""
            lines.append(f"   {'deployment' if j == 0 else '':10} {d.where}{text}")
        if f.scenarios:
            lines.append(f"   {'scenarios':10} {', '.join(f.scenarios)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def finding_markdown(f: Finding) -> list[str]:
    out = [f"### {f.rule}: {f.effect}", "", _cell(f.message), ""]
    out += ["| | where | text |", "|---|---|---|"]
    for s in f.runbook:
        command = _cell(_step(s).split("  ", 1)[1])
        out.append(f"| runbook | `{s.path}:{s.line}` ({_cell(s.section)}) | `{command}` |")
    for d in f.deployment:
        out.append(
            f"| deployment | `{d.where}` | {('`' + _cell(d.text) + '`') if d.text else ''} |"
        )
    out += ["", f"Scenarios changed: {', '.join(f.scenarios) or 'none'}", ""]
    return out


def to_markdown(report: DriftReport) -> str:
    lines = ["# Drift: the runbook against the deployment", "", _headline(report), ""]
    if report.findings:
        lines += [
            "| # | effect | rule | runbook lines | deployment | scenarios |",
            "|---|---|---|---|---|---|",
        ]
        for i, f in enumerate(report.findings, 1):
            rb = ", ".join(str(s.line) for s in f.runbook) or "-"
            dep = ", ".join(d.where for d in f.deployment)
            lines.append(
                f"| {i} | {f.effect} | {f.rule} | {rb} | {_cell(dep)} | "
                f"{', '.join(f.scenarios) or '-'} |"
            )
        lines.append("")
        for f in report.findings:
            lines += finding_markdown(f)
    lines += [f"Deployment files read: {', '.join(f'`{p}`' for p in report.files)}", ""]
    return "\n".join(lines)
