"""What the runbook asks of the host beyond Compose: `make TARGET` (the Makefile's targets),
`systemctl … UNIT` (unit files), `kubectl …` (manifests and their namespaces)."""

from __future__ import annotations

from harness.deployment.context import Context, unique
from harness.deployment.report import FAILS, DeploymentRef, Finding
from harness.deployment.steps import Call, StepRef

RULES = ("make-target-missing", "systemd-unit-missing", "kubernetes-missing")
_SYSTEMCTL_UNIT_VERBS = {
    "status",
    "start",
    "stop",
    "restart",
    "reload",
    "enable",
    "disable",
    "is-active",
    "is-failed",
    "show",
    "cat",
    "kill",
}


def check(ctx: Context) -> list[Finding]:
    return _make(ctx) + _systemd(ctx) + _kubectl(ctx)


def _make_targets(call: Call) -> list[str]:
    out, skip = [], False
    for word in call.argv[1:]:
        if skip:
            skip = False
        elif word in ("-C", "-f", "--file", "--directory", "-j", "-I"):
            skip = True
        elif not word.startswith("-") and "=" not in word:
            out.append(word)
    return out


def _make(ctx: Context) -> list[Finding]:
    makefile = ctx.deployment.makefile
    missing: dict[str, list[StepRef]] = {}
    for call in ctx.calls_of("make"):
        for target in _make_targets(call):
            if makefile is None or target not in makefile.targets:
                missing.setdefault(target, []).append(call.step)
    out = []
    for target, steps in missing.items():
        if makefile is None:
            where = [DeploymentRef(f"{ctx.deployment.root}", None, "no Makefile")]
            why = "the deployment has no Makefile"
        else:
            listed = ", ".join(makefile.targets) or "none"
            first = next(iter(makefile.targets.values()), 1)
            where = [ctx.ref(makefile.source, first, f"targets: {listed}")]
            why = f"the Makefile has no `{target}` target (targets: {listed})"
        out.append(
            Finding(
                "make-target-missing",
                FAILS,
                f"`make {target}`: {why}; make stops with `No rule to make target "
                f"'{target}'` (exit 2)",
                unique(steps),
                where,
            )
        )
    return out


def _unit_of(call: Call) -> str | None:
    words = [w for w in call.argv[1:] if not w.startswith("-")]
    if len(words) >= 2 and words[0] in _SYSTEMCTL_UNIT_VERBS:
        return words[1].removesuffix(".service")
    return None


def _systemd(ctx: Context) -> list[Finding]:
    units = {u.name for u in ctx.deployment.units}
    missing: dict[str, list[StepRef]] = {}
    for call in ctx.calls_of("systemctl", "service"):
        unit = _unit_of(call) if call.program == "systemctl" else (call.argv[1:2] or [None])[0]
        if unit and unit not in units:
            missing.setdefault(unit, []).append(call.step)
    out = []
    for unit, steps in missing.items():
        svc = ctx.deployment.by_container(unit) or ctx.counterpart(unit)
        if svc is not None:
            where = [
                ctx.service_ref(
                    svc,
                    svc.container_line or svc.line,
                    "runs as a Compose container, not a systemd unit",
                )
            ]
        else:
            where = [ctx.services_ref("the deployment runs under Compose")]
        out.append(
            Finding(
                "systemd-unit-missing",
                FAILS,
                f"no systemd unit `{unit}.service` in the deployment: `systemctl` "
                f"answers `Unit {unit}.service could not be found` (exit 4)",
                unique(steps),
                where,
            )
        )
    return out


def _namespace(call: Call) -> str | None:
    for i, word in enumerate(call.argv):
        if word in ("-n", "--namespace") and i + 1 < len(call.argv):
            return call.argv[i + 1]
        if word.startswith("--namespace="):
            return word.partition("=")[2]
    return None


def _kubectl(ctx: Context) -> list[Finding]:
    manifests = ctx.deployment.manifests
    steps = []
    for call in ctx.calls_of("kubectl"):
        namespace = _namespace(call)
        if not manifests.objects or (namespace and namespace not in manifests.namespaces):
            steps.append(call.step)
    if not steps:
        return []
    if manifests.objects:
        known = ", ".join(sorted(manifests.namespaces)) or "default"
        why = f"its manifests create no such namespace (namespaces: {known})"
        first = manifests.objects[0]
        where = [DeploymentRef(first.shown, first.line, f"{first.kind} {first.name}")]
    else:
        why = "the deployment has no Kubernetes manifests; it runs under Compose"
        where = [ctx.services_ref("the deployment runs under Compose")]
    return [
        Finding(
            "kubernetes-missing",
            FAILS,
            f"`kubectl`: {why}; no cluster runs TestGen's pods",
            unique(steps),
            where,
        )
    ]
