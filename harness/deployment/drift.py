"""The drift report: every step of a runbook checked against the deployment it is meant
for, statically (no stack, no engine unless asked).

    report = drift_report("deployments/testgen-head", ["runbooks/incident-response.md"])
    report.exit_status          # 0 no drift, 1 drift found (bad input raised: exit 2)
    print(to_text(report))      # harness.deployment.render: terminal and Markdown

Each finding names the runbook step(s), the deployment file and line(s), its effect (fails
every time | silent no-op | can never detect | blocks up | destroys data) and the scenarios
whose sections hold the steps. The checks are `harness.deployment.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.deployment.context import Context
from harness.deployment.load import Deployment, load_deployment
from harness.deployment.report import EFFECTS, DriftReport, Finding
from harness.deployment.rules import CHECKS
from harness.deployment.scenarios import scenarios_by_section
from harness.deployment.steps import StepRef, runbook_steps
from harness.redact import SECRET_NAME, Redactor
from harness.runbook.parse import parse_runbook

_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}")


def redactor(deployment: Deployment) -> Redactor:
    """Masks the operator's secrets and the deployment's own: secret-named variables'
    defaults (`${REDIS_PASSWORD:-…}`), values and `.env.example` entries."""
    redact = Redactor.from_environment()
    for compose in deployment.compose:
        for name, value in _DEFAULT.findall(compose.source.text):
            if SECRET_NAME.search(name):
                redact.add(value)
        for svc in compose.services.values():
            redact.add(
                *(
                    v
                    for k, (v, _) in svc.environment.items()
                    if v and SECRET_NAME.search(k) and "${" not in v
                )
            )
    if deployment.env_example is not None:
        redact.add(
            *(v for k, (v, _) in deployment.env_example.values.items() if SECRET_NAME.search(k))
        )
    return redact


def drift_report(
    deployment_dir: str | Path, runbook_paths: Sequence[str | Path], *, engine: bool = False
) -> DriftReport:
    """Check each runbook against the deployment (BadInput for a missing or unusable dir,
    runbook or compose file; nothing is started)."""
    deployment = load_deployment(deployment_dir)
    steps: list[StepRef] = []
    sections: dict[tuple[str, str], list[str]] = {}
    for path in runbook_paths:
        runbook = parse_runbook(path)
        steps += runbook_steps(runbook)
        for title, ids in scenarios_by_section(runbook).items():
            sections[(runbook.path, title)] = ids
    ctx = Context(deployment, steps, engine=engine, redact=redactor(deployment))
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check(ctx)
    for finding in findings:
        finding.runbook = [
            StepRef(s.path, s.line, s.section, ctx.redact(s.command)) for s in finding.runbook
        ]
        finding.scenarios = sorted(
            {sid for s in finding.runbook for sid in sections.get((s.path, s.section), [])}
        )
    findings.sort(key=_order)
    files = [c.source.shown for c in deployment.compose] + sorted(
        f.source.shown for f in deployment.dockerfiles.values()
    )
    files += [f.source.shown for f in (deployment.env_example, deployment.makefile) if f]
    files += [u.shown for u in deployment.units]
    return DriftReport(str(deployment_dir), [str(p) for p in runbook_paths], files, findings)


def _order(finding: Finding) -> tuple[int, int, str]:
    first = min((s.line for s in finding.runbook), default=0)
    return EFFECTS.index(finding.effect), first, finding.rule
