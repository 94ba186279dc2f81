"""What makes `docker-compose up` fail on a host other than the team's: a GPU reservation,
`pull_policy: always` (no registry access), a fixed subnet or network name that a second
copy of the stack, or any overlapping network on the engine, already holds."""

from __future__ import annotations

from harness.deployment.composefile import Service
from harness.deployment.context import Context, unique
from harness.deployment.report import BLOCKS_UP, Finding
from harness.deployment.steps import StepRef

RULES = ("gpu-reservation", "pull-policy-always", "fixed-subnet", "fixed-network-name")


def _creating(ctx: Context, svc: Service) -> list[StepRef]:
    """The `up` steps that would create (or recreate) the service."""
    return unique([cc.call.step for cc in ctx.ups() if svc.name in ctx.started_by(cc)])


def check(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for svc in ctx.deployment.services.values():
        steps = _creating(ctx, svc)
        if svc.gpu_line is not None:
            out.append(
                Finding(
                    "gpu-reservation",
                    BLOCKS_UP,
                    f"`{svc.name}` ({svc.shown_name}) reserves an NVIDIA GPU "
                    f"(deploy.resources.reservations.devices): `up` fails on a host "
                    f"without a GPU runtime (could not select device driver)",
                    steps,
                    [ctx.service_ref(svc, svc.gpu_line)],
                )
            )
        if svc.pull_policy == "always":
            out.append(
                Finding(
                    "pull-policy-always",
                    BLOCKS_UP,
                    f"`{svc.name}` has `pull_policy: always`: every `up` pulls "
                    f"{svc.image or 'its image'} and fails without registry access",
                    steps,
                    [ctx.service_ref(svc, svc.pull_policy_line)],
                )
            )
    every_up = unique([cc.call.step for cc in ctx.ups()])
    for compose in ctx.deployment.compose:
        for net in compose.networks:
            for subnet, line in net.subnets:
                out.append(
                    Finding(
                        "fixed-subnet",
                        BLOCKS_UP,
                        f"network `{net.key}` has the fixed subnet {subnet}: `up` "
                        f"fails (pool overlaps) when a second copy of the stack or "
                        f"any overlapping network exists on the engine",
                        every_up,
                        [ctx.ref(compose.source, line)],
                    )
                )
            if net.fixed_name:
                out.append(
                    Finding(
                        "fixed-network-name",
                        BLOCKS_UP,
                        f"network `{net.key}` has the fixed name `{net.fixed_name}`: "
                        f"two projects on one engine share (or fight over) it",
                        every_up,
                        [ctx.ref(compose.source, net.name_line)],
                    )
                )
    return out
