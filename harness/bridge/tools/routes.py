"""Real network tools (`curl`, `redis-cli`, `psql`, `pg_isready`) aimed at the stack.

The tools themselves run for real, so their exit codes, `-w` output and error messages
are curl's and libpq's own; only the address changes: production's `localhost:8000`,
`localhost:6379`, `api.openai.com`, and (inside a container) service names such as
`postgres:5432` become the stack's loopback addresses. Nothing leaves the machine: an
address the stack does not own is refused, as a closed network would.
"""

from __future__ import annotations

import os
import re
import shutil
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from harness.backends.base import Stack
from harness.binaries import postgres_bindir, redis_cli_binary
from harness.bridge.protocol import Answer, Completed, Exec, Invocation
from harness.bridge.registry import bridged
from harness.topology import LOOPBACK, PROVIDER_HOSTS

BLACKHOLE = ("127.0.0.1", 9)  # discard port: nothing listens, the connection is refused


def real_tool(name: str, shim_dir: str | None) -> str | None:
    return _which_outside(name, shim_dir, os.environ.get("PATH", ""))


@lru_cache(maxsize=64)  # a bridged call is polled 10 times a second: look each tool up once
def _which_outside(name: str, shim_dir: str | None, path: str) -> str | None:
    dirs = [d for d in path.split(os.pathsep) if d and d != shim_dir]
    return shutil.which(name, path=os.pathsep.join(dirs))


def resolve(stack: Stack, host: str, port: int, container: str | None) -> tuple[str, int]:
    """Where host:port lands from the operator's machine, or from inside `container`."""
    host = host.strip("[]").lower()
    if host in PROVIDER_HOSTS:
        return stack.endpoint(*PROVIDER_HOSTS[host])
    if host in LOOPBACK:
        if container is not None:
            try:
                return stack.endpoint(container, port)
            except Exception:  # noqa: BLE001 - a port the service does not listen on
                return BLACKHOLE
        return stack.published(port) or BLACKHOLE
    if container is not None and host in stack.compose.service_names:
        try:
            return stack.endpoint(host, port)
        except Exception:  # noqa: BLE001
            return BLACKHOLE
    return BLACKHOLE


def _rewrite_url(stack: Stack, url: str, container: str | None) -> str:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if not parts.hostname:
        return url
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    if parts.hostname in PROVIDER_HOSTS:
        scheme = "http"  # the mock speaks plain HTTP on loopback
    else:
        scheme = parts.scheme
    host, real_port = resolve(stack, parts.hostname, port, container)
    return urlunsplit((scheme, f"{host}:{real_port}", parts.path, parts.query, parts.fragment))


@bridged("curl", container=True)
def curl(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    binary = real_tool("curl", shim_dir)
    if binary is None:
        return Completed(127, "", "curl: command not found\n")
    takes_value = {
        "-H",
        "--header",
        "-w",
        "--write-out",
        "-X",
        "--request",
        "-d",
        "--data",
        "-o",
        "--output",
        "-m",
        "--max-time",
        "--connect-timeout",
        "-u",
        "--user",
        "-A",
        "--user-agent",
        "--data-raw",
        "--json",
        "-e",
        "--referer",
    }
    argv = [binary]
    args = inv.args
    i = 0
    while i < len(args):
        a = args[i]
        if a in takes_value and i + 1 < len(args):
            argv += [a, args[i + 1]]
            i += 2
            continue
        if not a.startswith("-") and re.match(r"^(https?://)?[\w.\-\[\]:]+(/|$)", a):
            a = _rewrite_url(stack, a, inv.container)
        argv.append(a)
        i += 1
    return Exec(argv, _clean_env(inv.env))


def _host_port_opts(
    args: list[str],
    host_flag: str,
    port_flag: str,
    default_port: int,
) -> tuple[str, int, list[str]]:
    host, port, rest = "localhost", default_port, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in (host_flag, f"--{'host'}") and i + 1 < len(args):
            host = args[i + 1]
            i += 2
            continue
        if a in (port_flag, "--port") and i + 1 < len(args):
            port = int(args[i + 1])
            i += 2
            continue
        if a.startswith(host_flag) and len(a) > 2:
            host = a[2:]
        elif a.startswith(port_flag) and len(a) > 2 and a[2:].isdigit():
            port = int(a[2:])
        else:
            rest.append(a)
        i += 1
    return host, port, rest


@bridged("redis-cli", container=True)
def redis_cli(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    binary = redis_cli_binary()
    if binary is None:
        return Completed(127, "", "redis-cli: command not found\n")
    host, port, rest = _host_port_opts(inv.args, "-h", "-p", 6379)
    real_host, real_port = resolve(stack, host, port, inv.container)
    return Exec([binary, "-h", real_host, "-p", str(real_port), *rest], _clean_env(inv.env))


def _pg(tool: str, stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    binary = real_tool(tool, shim_dir)
    if binary is None:  # no client on the host: the server's own (e.g. the wheel's) has one
        candidate = postgres_bindir() / tool
        binary = str(candidate) if candidate.exists() else None
    if binary is None:
        return Completed(127, "", f"{tool}: command not found\n")
    host, port, rest = _host_port_opts(inv.args, "-h", "-p", 5432)
    real_host, real_port = resolve(stack, host, port, inv.container)
    env = _clean_env(inv.env)
    env.pop("PGHOST", None)
    env.pop("PGPORT", None)
    if inv.container and "-U" not in " ".join(rest) and "PGUSER" not in env:
        env["PGUSER"] = inv.env.get("POSTGRES_USER", "postgres")
    return Exec([binary, "-h", real_host, "-p", str(real_port), *rest], env)


@bridged("psql", container=True)
def psql(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    return _pg("psql", stack, inv, shim_dir)


@bridged("pg_isready", container=True)
def pg_isready(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    return _pg("pg_isready", stack, inv, shim_dir)


def _clean_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("GAMEDAY_")} | {
        "GAMEDAY_BRIDGE": env.get("GAMEDAY_BRIDGE", "")
    }


@bridged("fuser")
def fuser(stack: Stack, inv: Invocation, shim_dir: str | None) -> Answer:
    """`fuser [-k] PORT/tcp`: who holds production's port, on the stack's real port.

    Only processes the stack owns (its services, and what the gameday's faults started) can
    be killed from a runbook step; anything else is refused (blast radius).
    """
    import signal

    kill = any(a.startswith("-") and "k" in a for a in inv.args)
    targets = [a for a in inv.args if not a.startswith("-")]
    out, err, found = [], [], False
    for target in targets:
        port_text, _, proto = target.partition("/")
        if proto not in ("tcp", "") or not port_text.isdigit():
            return Completed(
                1, "", f"fuser: unsupported target {target} (gameday bridge: PORT/tcp)\n"
            )
        address = stack.published(int(port_text)) if inv.container is None else None
        real = address[1] if address else int(port_text)
        pids = stack.port_holders(real)  # on the engine's host, where the port is
        if not pids:
            continue
        found = True
        err.append(f"{target}:")
        out.append("".join(f" {pid}" for pid in pids))
        for pid in pids:
            if kill:
                if not stack.owns_pid(pid):
                    return Completed(
                        1,
                        "",
                        f"gameday bridge: refusing to kill pid {pid}: "
                        "not a process of the stack under test\n",
                    )
                stack.signal_host_pid(pid, signal.SIGKILL)
    return Completed(
        0 if found else 1,
        "".join(out) + ("\n" if out else ""),
        "".join(err) + ("\n" if err else ""),
    )
