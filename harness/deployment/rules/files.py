"""Files a tool refuses as they stand (a Markdown fence, YAML that does not load, an
unknown Dockerfile instruction), and a build target the Dockerfile does not have."""

from __future__ import annotations

from harness.deployment.context import Context, unique
from harness.deployment.load import Problem
from harness.deployment.report import BLOCKS_UP, FAILS, DeploymentRef, Finding
from harness.deployment.steps import StepRef

RULES = ("unparseable-file", "build-target-missing")


def _steps(ctx: Context, problem: Problem) -> tuple[list[StepRef], str, str]:
    """The steps that load the file, what they run into, and the effect."""
    if problem.kind == "compose":
        steps = [cc.call.step for cc in ctx.compose_calls()]
        return steps, "no `docker-compose` command can load the project", FAILS
    if problem.kind == "dockerfile":
        steps = [cc.call.step for cc in ctx.ups()]
        steps += [c.step for c in ctx.calls_of("docker") if c.argv[1:2] == ("build",)]
        return steps, "the image cannot be built, so `up` cannot create the service", BLOCKS_UP
    if problem.kind == "env":
        steps = [c.step for c in ctx.calls_of("cp") if any(".env" in a for a in c.argv[1:])]
        return steps, "`cp .env.example .env` copies it into `.env`, which Compose refuses", FAILS
    if problem.kind == "manifest":
        return [c.step for c in ctx.calls_of("kubectl")], "`kubectl apply` refuses it", FAILS
    return [], "", FAILS


def check(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for problem in ctx.deployment.problems:
        steps, consequence, effect = _steps(ctx, problem)
        source = ctx.sources.get(problem.shown)
        where = (
            ctx.ref(source, problem.line)
            if source
            else DeploymentRef(problem.shown, problem.line, "")
        )
        message = f"{problem.shown}: {problem.message}"
        if consequence:
            message += f"; {consequence}"
        out.append(Finding("unparseable-file", effect, message, unique(steps), [where]))
    out += _missing_targets(ctx)
    return out


def _missing_targets(ctx: Context) -> list[Finding]:
    out = []
    for svc in ctx.deployment.services.values():
        dockerfile = ctx.deployment.dockerfile_for(svc)
        if svc.build_target is None or dockerfile is None or dockerfile.stage(svc.build_target):
            continue
        stages = ", ".join(dockerfile.stage_names) or "none named"
        last = dockerfile.stages[-1].line if dockerfile.stages else None
        steps = [cc.call.step for cc in ctx.ups() if svc.name in ctx.started_by(cc)]
        out.append(
            Finding(
                "build-target-missing",
                BLOCKS_UP,
                f"`{svc.name}` is built with target `{svc.build_target}`, which "
                f"{dockerfile.source.shown} does not have (stages: {stages}): `up` cannot "
                f"build it",
                unique(steps),
                [
                    ctx.service_ref(svc, svc.target_line),
                    ctx.ref(dockerfile.source, last, f"stages: {stages}"),
                ],
            )
        )
    return out
