"""Profiles: a service in a profile is not started by a plain `docker-compose up -d`, which
still exits 0; a service without one that depends on it makes recent Compose refuse `up`."""

from __future__ import annotations

from harness.deployment.composefile import Service
from harness.deployment.context import Context, unique
from harness.deployment.report import BLOCKS_UP, SILENT_NO_OP, Finding
from harness.deployment.steps import StepRef

RULES = ("profile-excludes", "depends-on-profiled")
# Host programs that reach a service by its role.
ROLE_CLIENTS = {"redis-cli": "redis", "psql": "postgres", "pg_isready": "postgres"}


def touched(ctx: Context, svc: Service) -> list[StepRef]:
    """Steps that rely on the service running: they name it (service, container, a port
    it publishes), or run its client on the host."""
    words = {svc.name, svc.shown_name}
    ports = {f":{p.host}" for p in svc.ports if p.host}
    image = (svc.image or "").rsplit("/", 1)[-1].split(":")[0]
    out = []
    for call in ctx.calls:
        named = any(w in words for w in call.argv)
        by_port = any(p in w for p in ports for w in call.argv)
        if named or by_port or ROLE_CLIENTS.get(call.program) == image:
            out.append(call.step)
    return out


def check(ctx: Context) -> list[Finding]:
    plain = [cc for cc in ctx.ups() if not cc.services]
    out: list[Finding] = []
    services = ctx.deployment.services
    for svc in services.values():
        if not svc.profiles:
            continue
        left_out = [cc for cc in plain if svc.name not in ctx.started_by(cc)]
        if not left_out:
            continue
        relying = touched(ctx, svc)
        steps = unique([cc.call.step for cc in left_out] + relying)
        profiles = ", ".join(f"`{p}`" for p in svc.profiles)
        if relying:
            out.append(
                Finding(
                    "profile-excludes",
                    SILENT_NO_OP,
                    f"`{svc.name}` ({svc.shown_name}) is only in profile {profiles}: a plain "
                    f"`docker-compose up -d` exits 0 without starting it, and the steps that "
                    f"rely on it find no {svc.shown_name}",
                    steps,
                    [ctx.service_ref(svc, svc.profiles_line)],
                )
            )
        for dependent in services.values():
            if dependent.profiles or svc.name not in dependent.depends_on:
                continue
            out.append(
                Finding(
                    "depends-on-profiled",
                    BLOCKS_UP,
                    f"`{dependent.name}` (no profile) depends on `{svc.name}`, which "
                    f"only profile {profiles} enables: recent Compose refuses a "
                    f"plain `up -d` (service `{svc.name}` is not enabled)",
                    unique([cc.call.step for cc in left_out]),
                    [
                        ctx.service_ref(dependent, dependent.depends_on[svc.name]),
                        ctx.service_ref(svc, svc.profiles_line),
                    ],
                )
            )
    return out
