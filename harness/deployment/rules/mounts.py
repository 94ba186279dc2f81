"""Host files the runbook reads (`tail /var/log/testgen/app.log`), against the host paths
the deployment mounts. A file no service writes to the host is not there: the reader fails,
and a reader early in a pipeline hides that failure behind the pipeline's last command."""

from __future__ import annotations

from pathlib import PurePosixPath

from harness.deployment.context import Context, unique
from harness.deployment.report import FAILS, NEVER_DETECTS, DeploymentRef, Finding
from harness.deployment.steps import Call

RULES = ("host-file-not-mounted",)
READERS = {"tail", "cat", "less", "more", "head", "grep", "zgrep", "egrep", "wc", "awk", "jq"}
# Host paths that exist whatever the deployment does.
SYSTEM_PREFIXES = ("/proc", "/sys", "/dev", "/etc", "/tmp", "/usr", "/bin")


def _paths(call: Call) -> list[str]:
    args = [w for w in call.argv[1:] if not w.startswith("-")]
    if call.program in {"grep", "zgrep", "egrep", "awk", "jq"} and args:
        args = args[1:]  # the pattern / program comes first
    return [a for a in args if a.startswith("/") and not a.startswith(SYSTEM_PREFIXES)]


def _mounted(ctx: Context, path: str) -> bool:
    target = PurePosixPath(path)
    for svc in ctx.deployment.services.values():
        for mount in svc.volumes:
            if not mount.is_bind:
                continue
            source = PurePosixPath(mount.source)
            if source.is_absolute() and (target == source or source in target.parents):
                return True
    return False


def check(ctx: Context) -> list[Finding]:
    by_dir: dict[str, list[tuple[Call, str]]] = {}
    for call in ctx.calls_of(*READERS):
        for path in _paths(call):
            if not _mounted(ctx, path):
                by_dir.setdefault(str(PurePosixPath(path).parent), []).append((call, path))
    out = []
    for directory, reads in by_dir.items():
        fails = [c.step for c, _ in reads if c.last_in_pipeline]
        hidden = [c.step for c, _ in reads if not c.last_in_pipeline]
        files = ", ".join(sorted({p for _, p in reads}))
        where = _app_mounts(ctx)
        base = (
            f"no service mounts a host path at {directory} ({files}): the deployment "
            f"writes no such file on the host"
        )
        if fails:
            out.append(
                Finding(
                    "host-file-not-mounted",
                    FAILS,
                    f"{base}; the reader exits non-zero",
                    unique(fails),
                    where,
                )
            )
        if hidden:
            out.append(
                Finding(
                    "host-file-not-mounted",
                    NEVER_DETECTS,
                    f"{base}; the pipeline's last command decides the exit status, "
                    f"the same on a healthy and a broken service",
                    unique(hidden),
                    where,
                )
            )
    return out


def _app_mounts(ctx: Context) -> list[DeploymentRef]:
    app = ctx.counterpart("testgen")
    if app is None:
        return [ctx.services_ref()]
    if app.volumes:
        shown = ", ".join(f"{m.source or '(anonymous)'}:{m.target}" for m in app.volumes)
        return [ctx.service_ref(app, app.volumes[0].line, f"`{app.name}` mounts {shown}")]
    return [ctx.service_ref(app, app.line, f"`{app.name}` mounts nothing")]
