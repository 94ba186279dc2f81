"""`docker volume ls|rm|inspect` over the stack's named volumes (Compose creates one with
the first container that mounts it; `down -v` or `volume rm` removes it)."""

from __future__ import annotations

from harness.backends.base import ContainerState, Stack
from harness.bridge.docker_args import (
    USAGE_ERROR,
    go_template,
    inspect_args,
    inspect_out,
    label_matches,
    parse_filters,
)
from harness.bridge.humanize import container_id
from harness.bridge.protocol import Answer, Completed, Invocation

VOLUME_FILTERS = frozenset(["dangling", "driver", "label", "name"])


def _volume_users(stack: Stack, key: str) -> list[ContainerState]:
    """Containers (running or not) that mount the compose file's named volume `key`."""
    return [
        state
        for state in stack.containers().values()
        if any(str(v).split(":", 1)[0] == key for v in state.config.volumes)
    ]


def volumes(stack: Stack) -> dict[str, str]:
    """The stack's named volumes that exist now: engine name → compose key. Compose creates
    one with the first container that mounts it; `down -v` (or `volume rm`) removes it."""
    out = {}
    for key, spec in stack.compose.volumes().items():
        name = str(spec.get("name") or f"{stack.compose.project}_{key}")
        removed = [t for t, names in stack.volume_removals if name in names]
        if removed and not any(u.created_at > max(removed) for u in _volume_users(stack, key)):
            continue
        out[name] = str(key)
    return out


def volume(stack: Stack, args: list[str], inv: Invocation) -> Answer:
    if not args or args[0] in ("--help", "-h"):
        return Completed(0, "Usage:  docker volume COMMAND\n")
    sub, rest = args[0], args[1:]
    if sub in ("ls", "list"):
        return _volume_ls(stack, rest)
    if sub in ("rm", "remove"):
        return _volume_rm(stack, rest)
    if sub == "inspect":
        return _volume_inspect(stack, rest)
    return Completed(
        1, "", f"docker: 'volume {sub}' is not a docker command.\nSee 'docker --help'\n"
    )


def _volume_ls(stack: Stack, args: list[str]) -> Answer:
    filters = parse_filters(args, "volume ls", VOLUME_FILTERS)
    if isinstance(filters, Completed):
        return filters
    fmt = next(
        (args[i + 1] for i, a in enumerate(args[:-1]) if a == "--format"),
        next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), None),
    )
    names = []
    for name, key in sorted(volumes(stack).items()):
        labels = {
            "com.docker.compose.project": stack.compose.project,
            "com.docker.compose.volume": key,
        }
        dangling = not _volume_users(stack, key)
        if all(
            any(_volume_matches(k, v, name, dangling, labels) for v in vals)
            for k, vals in filters.items()
        ):
            names.append(name)
    if any(a in ("-q", "--quiet") for a in args):
        return Completed(0, "".join(n + "\n" for n in names))
    if fmt is not None:
        return Completed(
            0, "".join(go_template(fmt, {"Name": n, "Driver": "local"}) + "\n" for n in names)
        )
    # the docker CLI's tabwriter: columns at least 10 wide, padding 3
    return Completed(0, "DRIVER    VOLUME NAME\n" + "".join(f"local     {n}\n" for n in names))


def _volume_matches(
    key: str, value: str, name: str, dangling: bool, labels: dict[str, str]
) -> bool:
    if key == "name":
        return value in name
    if key == "driver":
        return value == "local"
    if key == "dangling":
        return dangling == (value.lower() in ("true", "1"))
    return label_matches(value, labels)


def _volume_rm(stack: Stack, args: list[str]) -> Answer:
    names = [a for a in args if not a.startswith("-")]
    force = any(a in ("-f", "--force") for a in args)
    if not names:
        return Completed(
            1,
            "",
            "\"docker volume rm\" requires at least 1 argument.\nSee 'docker volume rm --help'.\n",
        )
    out, err, rc = [], [], 0
    for name in names:
        existing = volumes(stack)
        if name not in existing:
            if not force:  # -f: a missing volume is not an error
                err.append(f"Error response from daemon: get {name}: no such volume\n")
                rc = 1
            continue
        users = _volume_users(stack, existing[name])
        if users:  # the engine refuses while any container, even a stopped one, mounts it
            ids = ", ".join(container_id(u) for u in users)
            err.append(f"Error response from daemon: remove {name}: volume is in use - [{ids}]\n")
            rc = 1
            continue
        remove_one = getattr(stack, "remove_volume", None)
        if callable(remove_one):
            remove_one(existing[name])
        elif set(existing) == {name}:
            stack.remove_volumes()  # the only named volume left: the same thing
        else:
            err.append(
                "gameday bridge: removing one of several volumes is not emulated "
                f"on the {stack.backend_name} backend\n"
            )
            rc = USAGE_ERROR
            continue
        out.append(name + "\n")
    return Completed(rc, "".join(out), "".join(err))


def _volume_inspect(stack: Stack, args: list[str]) -> Answer:
    fmt, names = inspect_args(args)
    existing = volumes(stack)
    docs, err = [], []
    for name in names:
        if name not in existing:
            err.append(f"Error response from daemon: get {name}: no such volume\n")
            continue
        docs.append(
            {
                "Driver": "local",
                "Labels": {
                    "com.docker.compose.project": stack.compose.project,
                    "com.docker.compose.volume": existing[name],
                },
                "Mountpoint": f"/var/lib/docker/volumes/{name}/_data",
                "Name": name,
                "Options": None,
                "Scope": "local",
            }
        )
    return Completed(1 if err else 0, inspect_out(fmt, docs), "".join(err))
