"""Redis with a password against `redis-cli` without one.

`redis-cli` without `-a`/`--pass`/`--askpass`/a `redis://:pw@` URL, and without
`REDISCLI_AUTH`, gets `NOAUTH Authentication required.` from a Redis started with
`--requirepass`, prints it, **and exits 0**: a FLUSHALL flushes nothing and looks like a
success (silent no-op); an `info`/`ping` never shows what it is for, and exits 0 for any Redis
that accepts connections, working or not (can never detect: only a Redis nobody listens for
changes its exit status). The same holds for a healthcheck that runs it.
"""

from __future__ import annotations

import re

from harness.deployment.composefile import Service
from harness.deployment.context import Context, unique
from harness.deployment.report import NEVER_DETECTS, SILENT_NO_OP, Finding
from harness.deployment.steps import Call, StepRef, docker_call
from harness.shell.commands import exported, without_comments

RULES = ("redis-noauth", "redis-healthcheck-noauth")
_PREFIXED_AUTH = re.compile(r"(?:^|[\s;&|])REDISCLI_AUTH=")
_AUTH_OPTIONS = {"-a", "--pass", "--askpass", "--user"}
_WRITES = {
    "flushall",
    "flushdb",
    "del",
    "unlink",
    "set",
    "config",
    "shutdown",
    "expire",
    "save",
    "bgsave",
    "bgrewriteaof",
    "client",
    "script",
    "restore",
}


def protected(svc: Service) -> bool:
    return bool(svc.command and "--requirepass" in svc.command) or any(
        "requirepass" in (value or "") for value, _ in svc.environment.values()
    )


def authenticates(argv: tuple[str, ...], env: dict[str, str]) -> bool:
    if "REDISCLI_AUTH" in env:
        return True
    for i, word in enumerate(argv):
        if word in _AUTH_OPTIONS or word.startswith(("-a", "--pass=")):
            return True
        if word in ("-u", "--uri") and i + 1 < len(argv) and "@" in argv[i + 1]:
            return True
    return False


def _redis_command(argv: tuple[str, ...]) -> str:
    values = {"-h", "-p", "-n", "-u", "--uri", "-a", "--user", "--pass"}
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word in values:
            skip = True
        elif not word.startswith("-"):
            return word.lower()
    return ""


def check(ctx: Context) -> list[Finding]:
    redis = [s for s in ctx.deployment.services.values() if protected(s)]
    if not redis:
        return []
    exports: set[str] = set()  # REDISCLI_AUTH exported by an earlier step of the runbook
    writes: list[StepRef] = []
    reads: list[StepRef] = []
    for call in ctx.calls:
        exports |= set(exported(without_comments(call.step.command)))
        argv, env = _redis_cli(ctx, call)
        if _PREFIXED_AUTH.search(without_comments(call.step.command)):
            env["REDISCLI_AUTH"] = ""  # `REDISCLI_AUTH=… redis-cli …`
        if argv is None or authenticates(argv, env | dict.fromkeys(exports, "")):
            continue
        (writes if _redis_command(argv) in _WRITES else reads).append(call.step)
    svc = redis[0]
    where = [ctx.service_ref(svc, svc.command_line)]
    out = []
    if writes:
        out.append(
            Finding(
                "redis-noauth",
                SILENT_NO_OP,
                f"`{svc.name}` ({svc.shown_name}) requires a password "
                f"(`--requirepass`): `redis-cli` without `-a`/REDISCLI_AUTH gets "
                f"`NOAUTH Authentication required.` and exits 0, so nothing is "
                f"changed and the step looks like a success",
                unique(writes),
                where,
            )
        )
    if reads:
        out.append(
            Finding(
                "redis-noauth",
                NEVER_DETECTS,
                f"`{svc.name}` ({svc.shown_name}) requires a password: `redis-cli` "
                f"without `-a`/REDISCLI_AUTH prints `NOAUTH Authentication required.` "
                f"instead of the answer and exits 0 for any Redis that accepts connections, "
                f"working or not (only a Redis nobody listens for changes its exit status)",
                unique(reads),
                where,
            )
        )
    out += _healthchecks(ctx, redis)
    return out


def _redis_cli(ctx: Context, call: Call) -> tuple[tuple[str, ...] | None, dict[str, str]]:
    """The redis-cli argv a call runs (on the host, or in a container), and its env."""
    if call.program == "redis-cli":
        return call.argv, dict(call.env)
    dc = docker_call(call)
    if dc is None or dc.sub != "exec" or not dc.inner or dc.inner[0] != "redis-cli":
        return None, {}
    target = ctx.by_name(dc.targets[0]) if dc.targets else None
    env = {k: v or "" for k, (v, _) in target.environment.items()} if target else {}
    return dc.inner, env


def _healthchecks(ctx: Context, redis: list[Service]) -> list[Finding]:
    out = []
    status = [cc.call.step for cc in ctx.compose_calls() if cc.sub == "ps"]
    for svc in redis:
        test = svc.healthcheck or ()
        if "redis-cli" in test and not authenticates(test, {}):
            out.append(
                Finding(
                    "redis-healthcheck-noauth",
                    NEVER_DETECTS,
                    f"`{svc.name}`'s healthcheck runs `redis-cli` without the "
                    f"password: NOAUTH exits 0, so it passes for any Redis that accepts "
                    f"connections, whatever Redis answers (it fails only when nothing listens)",
                    unique(status),
                    [ctx.service_ref(svc, svc.healthcheck_line)],
                )
            )
    return out
