"""`docker-compose …` (Compose v2 behaviour) against the stack.

The decisive semantics: `restart` keeps the configuration a container was created with;
`up -d` re-reads the compose file with the operator's shell environment and `.env`, and
recreates only the named services (and their dependencies) whose resolved configuration
changed; services under a profile start only when named; `--scale` fails for a service
with a fixed `container_name`; `down -v` deletes the named volumes (the database's data).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from harness.backends.base import Stack, Status
from harness.bridge.humanize import ago, container_id, status_text, table
from harness.bridge.protocol import Answer, Completed, Invocation
from harness.bridge.registry import bridged
from harness.errors import HarnessError, StackError

_VALUE_OPTS = {"-f", "--file", "-p", "--project-name", "--env-file", "--profile", "-t", "--timeout"}


@bridged("docker-compose")
def serve(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    return run(stack, inv)


def run(stack: Stack, inv: Invocation) -> Answer:
    args = list(inv.args)
    while args and args[0].startswith("-"):  # -f/-p: the stack has one project
        args = args[2:] if args[0] in _VALUE_OPTS else args[1:]
    if not args:
        return Completed(0, "Usage:  docker compose [OPTIONS] COMMAND\n")
    cmd, rest = args[0], args[1:]
    handler = COMMANDS.get(cmd)
    if handler is None:
        return Completed(1, "", f'unknown docker command: "compose {cmd}"\n')
    try:
        return handler(stack, rest, inv)
    except HarnessError as exc:
        return Completed(1, "", f"Error response from daemon: {exc}\n")


def _services(stack: Stack, names: list[str]) -> list[str] | Completed:
    known = stack.compose.service_names
    for n in names:
        if n not in known:
            return Completed(1, "", f"no such service: {n}\n")
    return names


def _split(rest: list[str]) -> tuple[set[str], list[str], dict[str, str]]:
    flags, names, values = set(), [], {}
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in ("--scale", "-t", "--timeout", "--status") and i + 1 < len(rest):
            values[a] = rest[i + 1]
            i += 2
            continue
        if a.startswith("--scale="):
            values["--scale"] = a.split("=", 1)[1]
        elif a.startswith("-"):
            flags.add(a)
        else:
            names.append(a)
        i += 1
    return flags, names, values


def ps(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    flags, names, values = _split(rest)
    checked = _services(stack, names)
    if isinstance(checked, Completed):
        return checked
    show_all = bool(flags & {"-a", "--all"})
    rows = [["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]]
    quiet = []
    for service, state in sorted(stack.containers().items()):
        if names and service not in names:
            continue
        running = state.status in (Status.RUNNING, Status.RESTARTING)
        if "--status" in values:
            if state.status.value != values["--status"]:
                continue
        elif not show_all and not running:
            continue
        import time

        ports = ", ".join(f"0.0.0.0:{h}->{c}/tcp" for h, c in state.config.ports)
        rows.append(
            [
                state.name,
                state.config.image,
                f'"{" ".join(state.config.command)[:20]}"',
                service,
                f"{ago(time.time() - state.created_at)} ago",
                status_text(state),
                ports if state.status == Status.RUNNING else "",
            ]
        )
        quiet.append(container_id(state) + "\n")
    if flags & {"-q", "--quiet"}:
        return Completed(0, "".join(quiet))
    return Completed(0, table(rows))


def restart(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    flags, names, values = _split(rest)
    checked = _services(stack, names)
    if isinstance(checked, Completed):
        return checked
    timeout = float(values.get("-t", values.get("--timeout", "10")))
    existing = stack.containers()
    err = []
    for service in stack.compose.startup_order(
        names or [s for s in stack.compose.service_names if s in existing]
    ):
        if service not in existing or (names and service not in names):
            continue
        name = existing[service].name
        err.append(f" Container {name}  Restarting\n")
        try:
            stack.restart(service, timeout)
        except HarnessError as exc:
            err.append(f"Error response from daemon: {exc}\n")
            return Completed(1, "", "".join(err))
        err.append(f" Container {name}  Started\n")
    return Completed(0, "", "".join(err))


def up(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    flags, names, values = _split(rest)
    checked = _services(stack, names)
    if isinstance(checked, Completed):
        return checked
    configs, warnings = stack.compose.resolve(inv.env, _dotenv(stack, inv))
    err = [f"WARN[0000] {w}\n" for w in warnings]
    if "--scale" in values:
        service, _, count = values["--scale"].partition("=")
        if service not in configs:
            return Completed(1, "", "".join(err) + f"no such service: {service}\n")
        if count.isdigit() and int(count) > 1 and configs[service].has_fixed_container_name:
            err.append(
                f'WARNING: The "{service}" service is using the custom container name '
                f'"{configs[service].container_name}". Docker requires each container to have a '
                "unique name. Remove the custom name to scale the service.\n"
            )
            return Completed(1, "", "".join(err))
    if "-d" not in flags and "--detach" not in flags:
        err.append("gameday bridge: attached `up` would stream logs forever; running as `up -d`\n")
    try:  # a plain `up` refuses a default service that depends on a profiled one
        order = stack.compose.startup_order(names or None)
    except StackError as exc:
        return Completed(1, "", "".join(err) + f"{exc}\n")
    existing = stack.containers()
    for service in order:
        cfg = configs[service]
        state = existing.get(service)
        try:
            if state is None:
                stack.create(service, cfg)
                name = cfg.container_name
                err.append(f" Container {name}  Created\n Container {name}  Started\n")
            elif state.config.fingerprint() != cfg.fingerprint() or "--force-recreate" in flags:
                stack.create(service, cfg)
                name = cfg.container_name
                err.append(
                    f" Container {name}  Recreate\n Container {name}  Recreated\n"
                    f" Container {name}  Started\n"
                )
            elif state.status != Status.RUNNING:
                stack.start(service)
                err.append(f" Container {cfg.container_name}  Started\n")
            else:
                err.append(f" Container {cfg.container_name}  Running\n")
        except HarnessError as exc:
            err.append(f"Error response from daemon: {exc}\n")
            return Completed(1, "", "".join(err))
    return Completed(0, "", "".join(err))


def down(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    flags, names, _ = _split(rest)
    err = []
    existing = stack.containers()
    order = [s for s in reversed(stack.compose.startup_order(list(stack.compose.service_names)))
             if s in existing]  # fmt: skip
    def take_down(service: str) -> None:
        stack.stop(service)
        stack.remove(service)

    for group in stop_groups(stack, order):
        _at_once([functools.partial(take_down, service) for service in group])
    for service in order:
        name = existing[service].name
        err.append(f" Container {name}  Stopped\n")
        err.append(f" Container {name}  Removed\n")
    err.append(f" Network {stack.compose.project}_default  Removed\n")
    if flags & {"-v", "--volumes"}:
        for volume in stack.remove_volumes():
            err.append(f" Volume {volume}  Removed\n")
    return Completed(0, "", "".join(err))


def stop_groups(stack: Stack, services: list[str]) -> list[list[str]]:
    """`services` in the groups Compose stops them in: a service only once every service
    that depends on it is stopped, the services of a group at once (Compose stops in
    parallel, in reverse dependency order)."""
    wanted = set(services)
    dependents: dict[str, set[str]] = {s: set() for s in services}
    for service in services:
        for dep in stack.compose.spec(service).get("depends_on", []) or []:
            if dep in wanted:
                dependents[dep].add(service)
    level: dict[str, int] = {}

    def depth(service: str) -> int:
        if service not in level:
            level[service] = 1 + max((depth(d) for d in dependents[service]), default=-1)
        return level[service]

    groups: dict[int, list[str]] = {}
    for service in services:
        groups.setdefault(depth(service), []).append(service)
    return [groups[k] for k in sorted(groups)]


def _at_once(calls: list[Callable[[], object]]) -> None:
    """Run the calls in threads of their own; the first exception is raised once all end."""
    errors: list[BaseException] = []

    def call(fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(fn,)) for fn in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def stop(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    _, names, _ = _split(rest)
    checked = _services(stack, names)
    if isinstance(checked, Completed):
        return checked
    err = []
    for service, state in stack.containers().items():
        if not names or service in names:
            stack.stop(service)
            err.append(f" Container {state.name}  Stopped\n")
    return Completed(0, "", "".join(err))


def start(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    _, names, _ = _split(rest)
    checked = _services(stack, names)
    if isinstance(checked, Completed):
        return checked
    existing = stack.containers()
    for n in names:
        if n not in existing:  # declared, never created (or removed by `down`)
            return Completed(1, "", f'service "{n}" has no container to start\n')
    err = []
    try:
        for service, state in stack.containers().items():
            if not names or service in names:
                stack.start(service)
                err.append(f" Container {state.name}  Started\n")
    except HarnessError as exc:
        return Completed(1, "", "".join(err) + f"Error response from daemon: {exc}\n")
    return Completed(0, "", "".join(err))


_LOGS_VALUE_OPTS = {"--tail", "-n", "--since", "--until", "--index"}


def logs(stack: Stack, rest: list[str], inv: Invocation) -> Answer:
    # logs has its own options: `-t` is --timestamps here, not a timeout taking a value
    names, values, i = [], {}, 0
    while i < len(rest):
        a = rest[i]
        if a in _LOGS_VALUE_OPTS and i + 1 < len(rest):
            values[a] = rest[i + 1]
            i += 2
            continue
        if "=" in a and a.split("=", 1)[0] in _LOGS_VALUE_OPTS:
            values[a.split("=", 1)[0]] = a.split("=", 1)[1]
        elif not a.startswith("-"):
            names.append(a)
        i += 1
    checked = _services(stack, names)
    if isinstance(checked, Completed):
        return checked
    tail = values.get("--tail", values.get("-n", "all"))
    if tail != "all" and not tail.lstrip("-").isdigit():
        return Completed(1, "", f'invalid argument "{tail}" for "-n, --tail" flag\n')
    out: list[str] = []
    for service, state in sorted(stack.containers().items()):
        if not names or service in names:
            lines = stack.logs(service)
            if tail != "all" and int(tail) >= 0:
                lines = lines[-int(tail) :] if int(tail) else []
            out.extend(f"{state.name}  | {line}\n" for _, line in lines)
    return Completed(0, "".join(out))


def _dotenv(stack: Stack, inv: Invocation) -> dict[str, str]:
    from pathlib import Path

    from harness.compose import parse_dotenv

    path = Path(inv.cwd) / ".env"
    if not path.exists():
        path = stack.info.workdir / ".env"
    return parse_dotenv(path.read_text()) if path.exists() else {}


COMMANDS = {
    "ps": ps,
    "restart": restart,
    "up": up,
    "down": down,
    "stop": stop,
    "start": start,
    "logs": logs,
}
