"""Names the runbook uses against the names the deployment defines: compose services,
container names, what `docker ps | grep NAME` can match, and images `docker run` starts."""

from __future__ import annotations

from harness.deployment.composefile import Service
from harness.deployment.context import Context, unique
from harness.deployment.image import image_reference
from harness.deployment.report import FAILS, DeploymentRef, Finding
from harness.deployment.steps import StepRef

RULES = ("unknown-service", "unknown-container", "grep-finds-no-container", "unknown-image")
_SERVICE_SUBS = {
    "restart",
    "up",
    "ps",
    "logs",
    "stop",
    "start",
    "rm",
    "kill",
    "exec",
    "run",
    "pull",
    "build",
    "create",
    "pause",
    "unpause",
    "top",
    "port",
}
_IMAGE_GREP_SUBS = {"ps"}


def _hint(ctx: Context, name: str) -> tuple[str, DeploymentRef]:
    other = ctx.counterpart(name)
    listed = ", ".join(ctx.deployment.services)
    if other is not None and other.name != name:
        hint = f"the deployment calls it `{other.name}` (container `{other.shown_name}`)"
        return hint, ctx.service_ref(other, other.container_line or other.line)
    return f"services: {listed}", ctx.services_ref(f"services: {listed}")


def check(ctx: Context) -> list[Finding]:
    return _services(ctx) + _containers(ctx) + _greps(ctx) + _images(ctx)


def _services(ctx: Context) -> list[Finding]:
    missing: dict[str, list[StepRef]] = {}
    for cc in ctx.compose_calls():
        if cc.sub not in _SERVICE_SUBS:
            continue
        for name in list(cc.services) + [svc for svc, _ in cc.scale]:
            if name not in ctx.deployment.services:
                missing.setdefault(name, []).append(cc.call.step)
    out = []
    for name, steps in missing.items():
        hint, where = _hint(ctx, name)
        out.append(
            Finding(
                "unknown-service",
                FAILS,
                f"no service `{name}` in the compose project (`no such service: {name}`); {hint}",
                unique(steps),
                [where],
            )
        )
    return out


def _containers(ctx: Context) -> list[Finding]:
    names = ctx.names()
    missing: dict[str, list[StepRef]] = {}
    for dc in ctx.docker_calls():
        if dc.sub == "run":
            continue
        for target in dc.targets:
            if target not in names:
                missing.setdefault(target, []).append(dc.call.step)
    out = []
    for name, steps in missing.items():
        hint, where = _hint(ctx, name)
        out.append(
            Finding(
                "unknown-container",
                FAILS,
                f"no container `{name}` (`Error: No such container: {name}`); {hint}",
                unique(steps),
                [where],
            )
        )
    return out


def _greps(ctx: Context) -> list[Finding]:
    """`docker ps | grep WORD` where no container the deployment runs has WORD in its name
    (nor its image): grep exits 1 on every healthy run."""
    names = ctx.names()
    images = {s.image or "" for s in ctx.deployment.services.values()}
    out = []
    for dc in ctx.docker_calls():
        if dc.sub not in _IMAGE_GREP_SUBS:
            continue
        for after in dc.call.after[:1]:
            if not after or after[0] != "grep":
                continue
            pattern = next((w for w in after[1:] if not w.startswith("-")), "")
            if pattern and not any(pattern in n for n in names | images):
                shown = ", ".join(sorted(names))
                out.append(
                    Finding(
                        "grep-finds-no-container",
                        FAILS,
                        f"`grep {pattern}` matches no container of the deployment "
                        f"({shown}): it exits 1 on every healthy run",
                        [dc.call.step],
                        [ctx.services_ref(f"containers: {shown}")],
                    )
                )
    return out


def _built_images(ctx: Context) -> set[str]:
    """Images the deployment produces: compose `image:`/default names, `docker build -t`."""
    out = {image_reference(ctx.deployment, s) for s in ctx.deployment.services.values()}
    makefile = ctx.deployment.makefile
    if makefile is not None:
        words = makefile.source.text.split()
        out |= {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-t", "--tag")}
    return out | {i.removesuffix(":latest") for i in out}


def _images(ctx: Context) -> list[Finding]:
    built = _built_images(ctx)
    out = []
    for dc in ctx.docker_calls():
        if dc.sub != "run" or not dc.targets:
            continue
        image = dc.targets[0]
        if image in built or image.removesuffix(":latest") in built:
            continue
        app: Service | None = ctx.counterpart(image.split(":")[0])
        where = (
            ctx.service_ref(app, app.image_line or app.build_line)
            if app is not None
            else ctx.services_ref()
        )
        out.append(
            Finding(
                "unknown-image",
                FAILS,
                f"no image `{image}` is built by the deployment (it builds "
                f"{', '.join(sorted(built))}): `docker run` cannot find it and "
                f"the pull is refused",
                [dc.call.step],
                [where],
            )
        )
    return out
