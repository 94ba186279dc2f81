"""Compose commands whose meaning the deployment decides: `down -v` deletes the named
volumes it declares (the data), `up --scale S=N` cannot give a fixed `container_name` twice."""

from __future__ import annotations

from harness.deployment.context import Context, unique
from harness.deployment.report import DESTROYS_DATA, FAILS, Finding

RULES = ("down-volumes", "scale-fixed-name")


def check(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    downs = [
        cc for cc in ctx.compose_calls() if cc.sub == "down" and cc.flags & {"-v", "--volumes"}
    ]
    volumes = [name for c in ctx.deployment.compose for name in c.volumes]
    if downs and volumes:
        where = [
            ctx.ref(c.source, c.volumes_line, f"named volumes: {', '.join(c.volumes)}")
            for c in ctx.deployment.compose
            if c.volumes
        ]
        out.append(
            Finding(
                "down-volumes",
                DESTROYS_DATA,
                f"`down -v` deletes every named volume: {', '.join(volumes)}",
                unique([cc.call.step for cc in downs]),
                where,
            )
        )
    for cc in ctx.ups():
        for name, count in cc.scale:
            svc = ctx.deployment.service(name)
            if svc is None or svc.container_name is None or count < 2:
                continue
            out.append(
                Finding(
                    "scale-fixed-name",
                    FAILS,
                    f"`--scale {name}={count}`: `{name}` has the fixed container "
                    f"name {svc.container_name}, which two containers cannot share",
                    [cc.call.step],
                    [ctx.service_ref(svc, svc.container_line)],
                )
            )
    return out
