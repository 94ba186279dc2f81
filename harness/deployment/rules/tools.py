"""Programs the runbook runs with `docker exec`, against what the container's image installs
(from the Dockerfile, and from the image itself when the check may ask an engine), and
`docker exec` into a container whose command exits, so it is always restarting."""

from __future__ import annotations

from harness.deployment.composefile import Service
from harness.deployment.context import Context, unique
from harness.deployment.image import dockerfile_tools, engine_tools, image_reference
from harness.deployment.report import FAILS, DeploymentRef, Finding
from harness.deployment.serving import running
from harness.deployment.steps import DockerCall, StepRef

RULES = ("exec-tool-missing", "exec-into-restarting")


def _tools(ctx: Context, svc: Service, program: str) -> tuple[frozenset[str] | None, str]:
    """What the image has, and where that answer comes from."""
    found = dockerfile_tools(ctx.deployment, svc)
    if ctx.engine:
        seen = engine_tools(image_reference(ctx.deployment, svc), [program])
        if seen is not None:
            return frozenset((set(found or ()) - {program}) | seen), "the image itself"
    return found, "the Dockerfile" if ctx.deployment.stage_for(svc) else "the image"


def _where(ctx: Context, svc: Service) -> list[DeploymentRef]:
    where = [ctx.service_ref(svc, svc.target_line or svc.build_line or svc.line)]
    dockerfile = ctx.deployment.dockerfile_for(svc)
    stage = ctx.deployment.stage_for(svc)
    if dockerfile is not None and stage is not None:
        installs = sorted(stage.packages)
        line = next(iter(stage.packages.values()), stage.line)
        note = f"installs {', '.join(installs)}" if installs else "installs nothing"
        where.append(ctx.ref(dockerfile.source, line, note))
    return where


def check(ctx: Context) -> list[Finding]:
    missing: dict[tuple[str, str], list[StepRef]] = {}
    looping: dict[str, list[StepRef]] = {}
    execs: list[DockerCall] = [dc for dc in ctx.docker_calls() if dc.sub == "exec" and dc.inner]
    for dc in execs:
        svc = ctx.by_name(dc.targets[0])
        if svc is None:
            continue  # an unknown container is the names check's finding
        if running(ctx.deployment, svc).exits:
            looping.setdefault(svc.name, []).append(dc.call.step)
        program = dc.inner[0].rsplit("/", 1)[-1]
        tools, _ = _tools(ctx, svc, program)
        if tools is not None and program not in tools:
            missing.setdefault((svc.name, program), []).append(dc.call.step)
    out = []
    services = ctx.deployment.services
    for (name, program), steps in missing.items():
        svc = services[name]
        out.append(
            Finding(
                "exec-tool-missing",
                FAILS,
                f"`{program}` is not in {svc.shown_name}'s image ({_has(ctx, svc, program)}): "
                f"`docker exec` fails (executable file not found, exit 126/127) on "
                f"every run",
                unique(steps),
                _where(ctx, svc),
            )
        )
    for name, steps in looping.items():
        svc = services[name]
        run = running(ctx.deployment, svc)
        where = [ctx.ref(ctx.sources.get(shown) or shown, line) for shown, line in run.lines]
        if svc.restart_line:
            where.append(ctx.service_ref(svc, svc.restart_line))
        out.append(
            Finding(
                "exec-into-restarting",
                FAILS,
                f"{svc.shown_name} runs {run.described}; the container exits and "
                f"restarts, so `docker exec` finds it restarting or stopped",
                unique(steps),
                where,
            )
        )
    return out


def _has(ctx: Context, svc: Service, program: str) -> str:
    """What the image is known to hold, in a few words."""
    stage = ctx.deployment.stage_for(svc)
    tools, source = _tools(ctx, svc, program)
    if source == "the image itself":
        return f"`command -v {program}` finds nothing in {image_reference(ctx.deployment, svc)}"
    if stage is not None:
        return f"the Dockerfile installs only {', '.join(sorted(stage.packages)) or 'nothing'}"
    return f"the image {svc.image} carries {', '.join(sorted(tools or ()))}"
