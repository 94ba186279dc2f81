"""`docker …` with the meaning it has in production, against the stack's containers.

Containers stopped or killed here stay down (the engine stopped them); only a process
that dies by itself is brought back by its restart policy. `docker stats` prints one
sample (as `--no-stream`): a gameday never waits on a stream.
"""

from __future__ import annotations

import re
import shlex
import time
from datetime import UTC, datetime

from harness.backends.base import ContainerState, Stack, Status
from harness.bridge import docker_volumes
from harness.bridge.docker_args import (
    USAGE_ERROR,
    format_and_names,
    go_template,
    inspect_args,
    inspect_out,
    label_matches,
    parse_filters,
)
from harness.bridge.humanize import ago, container_id, size, status_text, table
from harness.bridge.protocol import Answer, Completed, Invocation
from harness.bridge.registry import bridged

OCI_NOT_FOUND = 127  # `docker exec` of a program the image does not have


@bridged("docker")
def serve(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    return run(stack, inv)


def run(stack: Stack, inv: Invocation) -> Answer:
    args = inv.args
    while args and args[0].startswith("-"):  # global options like --log-level are ignored
        args = args[1:]
    if not args:
        return Completed(0, "Usage:  docker [OPTIONS] COMMAND\n")
    cmd, rest = args[0], args[1:]
    if cmd == "container" and rest:
        cmd, rest = rest[0], rest[1:]
        cmd = {"ls": "ps", "list": "ps"}.get(cmd, cmd)
    if cmd == "image" and rest and rest[0] in ("ls", "list"):
        cmd, rest = "images", rest[1:]
    handler = COMMANDS.get(cmd)
    if cmd == "compose":
        from harness.bridge.tools import compose_cli  # `docker compose` is the v2 spelling

        return compose_cli.run(stack, Invocation(["docker-compose", *rest], inv.cwd, inv.env))
    if handler is None:
        return Completed(1, "", f"docker: '{cmd}' is not a docker command.\nSee 'docker --help'\n")
    return handler(stack, rest, inv)


def find(stack: Stack, name: str) -> ContainerState | None:
    for state in stack.containers().values():
        if name in (state.name, state.service) or (
            len(name) >= 4 and container_id(state).startswith(name)
        ):
            return state
    return None


def no_such(name: str) -> Completed:
    return Completed(1, "", f"Error response from daemon: No such container: {name}\n")


def ports_text(stack: Stack, state: ContainerState, running: bool) -> str:
    if not running:
        return ""
    return ", ".join(f"0.0.0.0:{h}->{c}/tcp" for h, c in state.config.ports)


def _command_text(state: ContainerState) -> str:
    text = " ".join(state.config.command) or "docker-entrypoint.sh"
    return '"' + (text[:19] + "…" if len(text) > 20 else text) + '"'


def ps(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    show_all = any(a in ("-a", "--all") for a in args)
    quiet = any(a in ("-q", "--quiet") for a in args)
    filters = parse_filters(args, "ps", PS_FILTERS)
    if isinstance(filters, Completed):
        return filters
    refused = _refuse_ps_filters(filters)
    if refused is not None:
        return refused
    if "status" in filters and set(filters["status"]) & {"exited", "created"}:
        show_all = True  # as the daemon does: asking for exited containers lists them
    rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
    ids = []
    now = time.time()
    for state in sorted(stack.containers().values(), key=lambda s: -s.created_at):
        running = state.status in (Status.RUNNING, Status.RESTARTING)
        if not show_all and not running:
            continue
        if not _matches(state, filters, stack.compose.project):
            continue
        ids.append(container_id(state)[:12])
        rows.append(
            [
                container_id(state)[:12],
                state.config.image,
                _command_text(state),
                f"{ago(now - state.created_at)} ago",
                status_text(state, now),
                ports_text(stack, state, state.status == Status.RUNNING),
                state.name,
            ]
        )
    if quiet:
        return Completed(0, "".join(i + "\n" for i in ids))
    return Completed(0, table(rows))


# The daemon's filter keys for `docker ps`: any other key is refused, never ignored.
PS_FILTERS = frozenset(
    [
        "ancestor",
        "before",
        "expose",
        "exited",
        "health",
        "id",
        "isolation",
        "is-task",
        "label",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    ]
)
_EMULATED_PS_FILTERS = frozenset(
    ["ancestor", "exited", "id", "label", "name", "network", "status", "volume"]
)
_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


def _refuse_ps_filters(filters: dict[str, list[str]]) -> Completed | None:
    for value in filters.get("status", []):
        if value not in _STATES:
            return Completed(
                1,
                "",
                f"Error response from daemon: invalid filter 'status={value}': invalid value "
                f"for state ({value}): must be one of {', '.join(_STATES)}\n",
            )
    for value in filters.get("exited", []):
        if not re.fullmatch(r"[+-]?\d+", value):
            return Completed(
                1,
                "",
                f"Error response from daemon: invalid filter 'exited={value}': "
                f'strconv.Atoi: parsing "{value}": invalid syntax\n',
            )
    for key in filters:
        if key not in _EMULATED_PS_FILTERS:  # valid for the daemon, not emulated: say so
            return Completed(
                USAGE_ERROR, "", f"gameday bridge: `docker ps --filter {key}=…` is not emulated\n"
            )
    return None


def _regex_match(pattern: str, *texts: str) -> bool:
    try:
        return any(re.search(pattern, t) for t in texts)
    except re.error:  # the daemon skips a pattern it cannot compile: no match
        return False


def _matches(state: ContainerState, filters: dict[str, list[str]], project: str) -> bool:
    labels = {"com.docker.compose.service": state.service, "com.docker.compose.project": project}
    checks = {
        "name": lambda v: _regex_match(v, state.name, "/" + state.name),
        "id": lambda v: container_id(state).startswith(v),
        "status": lambda v: state.status.value == v,
        "exited": lambda v: state.status == Status.EXITED and state.exit_code == int(v),
        "ancestor": lambda v: (
            state.config.image in (v, v + ":latest") or state.image_id.startswith(v)
        ),
        "network": lambda v: v == f"{project}_default",
        "volume": lambda v: any(
            vol.split(":")[0] == v or vol.split(":")[1:2] == [v] for vol in state.config.volumes
        ),
        "label": lambda v: label_matches(v, labels),
    }
    return all(any(checks[key](v) for v in values) for key, values in filters.items())


def _since_seconds(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", text)
    if m:
        return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    return None


def logs(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    tail: int | None = None
    since: float | None = None
    names = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--tail", "-n") and i + 1 < len(args):
            tail = None if args[i + 1] == "all" else int(args[i + 1])
            i += 2
            continue
        if a.startswith("--tail="):
            tail = int(a.split("=", 1)[1])
        elif a == "--since" and i + 1 < len(args):
            since = _since_seconds(args[i + 1])
            i += 2
            continue
        elif a.startswith("--since="):
            since = _since_seconds(a.split("=", 1)[1])
        elif a in ("-f", "--follow", "-t", "--timestamps"):
            pass  # --follow: a gameday step cannot wait on a stream; prints what is there
        elif not a.startswith("-"):
            names.append(a)
        i += 1
    if len(names) != 1:
        return Completed(1, "", '"docker logs" requires exactly 1 argument.\n')
    state = find(stack, names[0])
    if state is None:
        return no_such(names[0])
    lines = stack.logs(state.service)
    if since is not None:
        cutoff = time.time() - since
        lines = [(t, line) for t, line in lines if t >= cutoff]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return Completed(0, "".join(line + "\n" for _, line in lines))


_STATS_COLUMNS = {  # `docker stats` header -> the Go template field of its column
    "CONTAINER ID": "Container",
    "NAME": "Name",
    "CPU %": "CPUPerc",
    "MEM USAGE / LIMIT": "MemUsage",
    "MEM %": "MemPerc",
    "NET I/O": "NetIO",
    "BLOCK I/O": "BlockIO",
    "PIDS": "PIDs",
}


def _stats_args(args: list[str]) -> tuple[str | None, list[str]]:
    """`--format` and the container names; --no-stream, -a: one sample is all a gameday takes."""
    return format_and_names(args, ("--format",))


def _stats_fields(stack: Stack, state: ContainerState, host_total: int) -> dict[str, str]:
    """One container's sample, by Go template field; a stopped container reads all zero."""
    if state.status != Status.RUNNING:
        cpu, mem, mem_pct, pids = "0.00%", "0B / 0B", "0.00%", "0"
    else:
        u = stack.stats(state.service)
        limit = u.memory_limit_bytes or host_total
        cpu = f"{u.cpu_percent:.2f}%"
        mem = f"{size(u.memory_bytes)} / {size(limit)}"
        mem_pct = f"{100 * u.memory_bytes / limit:.2f}%"
        pids = str(u.pids)
    return {
        "Container": container_id(state)[:12],
        "Name": state.name,
        "CPUPerc": cpu,
        "MemUsage": mem,
        "MemPerc": mem_pct,
        "NetIO": "0B / 0B",
        "BlockIO": "0B / 0B",
        "PIDs": pids,
    }


def stats(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    fmt, names = _stats_args(args)
    states = (
        [find(stack, n) for n in names]
        if names
        else [s for s in stack.containers().values() if s.status == Status.RUNNING]
    )
    for n, s in zip(names, states, strict=False):
        if s is None:
            return Completed(1, "", f"Error response from daemon: No such container: {n}\n")
    import psutil

    host_total = psutil.virtual_memory().total
    rows = [list(_STATS_COLUMNS)]
    lines = []
    for state in states:
        assert state is not None
        fields = _stats_fields(stack, state, host_total)
        if fmt is not None:
            lines.append(go_template(fmt.replace("table ", ""), fields) + "\n")
        rows.append([fields[k] for k in _STATS_COLUMNS.values()])
    return Completed(0, "".join(lines) if fmt is not None else table(rows))


def _iso(t: float | None) -> str:
    if not t:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def inspect_doc(state: ContainerState) -> dict[str, object]:
    cfg = state.config
    return {
        "Id": container_id(state),
        "Name": "/" + state.name,
        "Created": _iso(state.created_at),
        "State": {
            "Status": state.status.value,
            "Running": state.status == Status.RUNNING,
            "Restarting": state.status == Status.RESTARTING,
            "OOMKilled": state.oom_killed,
            "Dead": False,
            "Pid": state.pid or 0,
            "ExitCode": state.exit_code or 0,
            "StartedAt": _iso(state.started_at),
            "FinishedAt": _iso(state.finished_at),
        },
        "RestartCount": state.restart_count,
        "Config": {
            "Image": cfg.image,
            "Env": [f"{k}={v}" for k, v in cfg.environment],
            "Cmd": list(cfg.command),
            "Labels": {"com.docker.compose.service": state.service},
        },
        "HostConfig": {
            "Memory": cfg.mem_limit_bytes or 0,
            "RestartPolicy": {"Name": cfg.restart.partition(":")[0], "MaximumRetryCount": 0},
        },
    }


def inspect(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    fmt, names = inspect_args(args)
    docs, missing = [], []
    for n in names:
        state = find(stack, n)
        if state is None:
            missing.append(n)
        else:
            docs.append(inspect_doc(state))
    err = "".join(f"Error: No such object: {n}\n" for n in missing)
    return Completed(1 if missing else 0, inspect_out(fmt, docs), err)


def exec_(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-e", "--env", "-u", "--user", "-w", "--workdir") else 1
    if len(args) - i < 2:
        return Completed(1, "", '"docker exec" requires at least 2 arguments.\n')
    name, argv = args[i], args[i + 1 :]
    state = find(stack, name)
    if state is None:
        return no_such(name)
    program = argv[0].rsplit("/", 1)[-1]
    if program in stack.image_lacks(state.service, [program]):
        # What the engine answers when the deployment's image does not carry the tool
        # (its Dockerfile installs only what it installs), whichever backend plays it.
        return Completed(
            OCI_NOT_FOUND,
            "",
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{argv[0]}": executable file not found in $PATH: unknown\n',
        )
    result = stack.exec(state.service, argv)
    return Completed(
        result.exit_code,
        result.stdout.decode(errors="replace"),
        result.stderr.decode(errors="replace"),
    )


def run_(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-e", "--env", "--name", "-p", "-v", "--network", "-u", "-w") else 1
    if i >= len(args):
        return Completed(1, "", '"docker run" requires at least 1 argument.\n')
    image, argv = args[i], args[i + 1 :]
    env = stack.image_env(image if ":" in image else image + ":latest")
    if env is None:
        return Completed(
            USAGE_ERROR,
            "",
            f"Unable to find image '{image}' locally\n"
            "docker: Error response from daemon: pull access denied (no registry)\n",
        )
    if argv[:1] in (["env"], ["printenv"]):
        return Completed(0, "".join(f"{k}={v}\n" for k, v in env.items()))
    return Completed(
        USAGE_ERROR,
        "",
        f"gameday bridge: `docker run {image} {shlex.join(argv)}` "
        "only supports `env`/`printenv` (the image's own environment)\n",
    )


def images(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
    for repo, tag, iid in stack.images():
        rows.append([repo, tag, iid, "About an hour ago", "—"])
    return Completed(0, table(rows))


def _lifecycle(action: str):  # type: ignore[no-untyped-def]
    def handler(stack: Stack, args: list[str], inv: Invocation) -> Answer:
        names = [a for a in args if not a.startswith("-")]
        out, err, rc = [], [], 0
        for n in names:
            state = find(stack, n)
            if state is None:
                err.append(f"Error response from daemon: No such container: {n}\n")
                rc = 1
                continue
            if action == "kill" and state.status != Status.RUNNING:
                err.append(
                    f"Error response from daemon: Cannot kill container: {n}: "
                    f"Container {container_id(state)[:12]} is not running\n"
                )
                rc = 1
                continue
            getattr(stack, action)(state.service)
            out.append(n + "\n")
        return Completed(rc, "".join(out), "".join(err))

    return handler


COMMANDS = {
    "ps": ps,
    "logs": logs,
    "stats": stats,
    "inspect": inspect,
    "exec": exec_,
    "run": run_,
    "images": images,
    "volume": docker_volumes.volume,
    "kill": _lifecycle("kill"),
    "stop": _lifecycle("stop"),
    "start": _lifecycle("start"),
    "restart": _lifecycle("restart"),
}
