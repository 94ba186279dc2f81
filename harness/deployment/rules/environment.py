"""Variables the runbook exports, against what the compose file interpolates and passes to
which service.

`export K=V` sets K in the operator's shell. Compose sees it only where the compose file
interpolates `${K}`, and a service sees the new value only when an `up` recreates that
service. A variable interpolated nowhere reaches no service at all.
"""

from __future__ import annotations

from harness.deployment.context import Context
from harness.deployment.report import SILENT_NO_OP, DeploymentRef, Finding
from harness.deployment.steps import ComposeCall, StepRef
from harness.shell.commands import exported, without_comments

RULES = ("export-not-interpolated", "export-not-applied")


def _passed_to(ctx: Context, variable: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for compose in ctx.deployment.compose:
        out.update(compose.passed_to.get(variable, {}))
    return out


def _recreates(ctx: Context, cc: ComposeCall, service: str) -> bool:
    """Whether this `up` recreates `service` with the operator's new environment."""
    if cc.services:
        return service in cc.services
    return service in ctx.started_by(cc)


def check(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for step in ctx.steps:
        for variable in exported(without_comments(step.command)):
            passed = _passed_to(ctx, variable)
            if not passed:
                out.append(_nowhere(ctx, step, variable))
                continue
            later = [
                cc
                for cc in ctx.ups()
                if (cc.call.step.path, cc.call.step.section) == (step.path, step.section)
                and cc.call.step.line > step.line
            ]
            missed = [s for s in passed if not any(_recreates(ctx, cc, s) for cc in later)]
            if missed:
                out.append(_not_applied(ctx, step, variable, passed, missed, later))
    return out


def _app_environment(ctx: Context) -> DeploymentRef:
    """Where a variable would have to be passed: the app service's `environment:`."""
    app = ctx.counterpart("testgen")
    if app is None:
        return ctx.services_ref()
    names = ", ".join(app.environment) or "none"
    first = min((line for _, line in app.environment.values()), default=app.line)
    return ctx.service_ref(app, first, f"`{app.name}` gets: {names}")


def _nowhere(ctx: Context, step: StepRef, variable: str) -> Finding:
    example = ctx.deployment.env_example
    where = [_app_environment(ctx)]
    if example is not None and variable in example.values:
        where.append(ctx.ref(example.source, example.values[variable][1]))
    files = ", ".join(c.source.shown for c in ctx.deployment.compose)
    return Finding(
        "export-not-interpolated",
        SILENT_NO_OP,
        f"`{variable}` is interpolated nowhere in {files}: the export reaches the "
        f"operator's shell only, no service ever sees it (not even after a "
        f"recreate)",
        [step],
        where,
    )


def _not_applied(
    ctx: Context,
    step: StepRef,
    variable: str,
    passed: dict[str, int],
    missed: list[str],
    later: list[ComposeCall],
) -> Finding:
    services = ctx.deployment.services
    where = [ctx.service_ref(services[s], passed[s]) for s in missed if s in services]
    if later:
        ups = "; ".join(
            f"`{' '.join(cc.call.argv)}` (line {cc.call.step.line}) recreates "
            f"{', '.join(sorted(ctx.started_by(cc))) or 'nothing'}"
            for cc in later
        )
        tail = f"the section's {ups}"
    else:
        tail = "no later step of the section runs `docker-compose up`"
    steps = [step] + [cc.call.step for cc in later]
    return Finding(
        "export-not-applied",
        SILENT_NO_OP,
        f"`{variable}` is passed to {', '.join(f'`{s}`' for s in missed)} only when "
        f"that service is recreated, and {tail}: the running service keeps its old "
        f"value",
        steps,
        where,
    )
