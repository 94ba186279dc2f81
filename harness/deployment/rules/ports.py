"""Ports and hosts the runbook reaches, against who publishes them and what listens there.

`curl http://localhost:8000/…` needs a service publishing 8000 whose command serves HTTP:
a published port in front of a shell, a `--help` or a CLI listens on nothing. A host
`redis-cli`/`psql` needs its default port published. Compose service names resolve only
inside the compose network, never on the host."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.deployment.context import Context, unique
from harness.deployment.report import FAILS, Finding
from harness.deployment.serving import running
from harness.deployment.steps import Call, StepRef

RULES = (
    "no-server-on-port",
    "port-not-published",
    "not-http-port",
    "host-cannot-resolve",
    "unknown-network-host",
)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]"}
_CURL_VALUES = {
    "-H",
    "--header",
    "-d",
    "--data",
    "-w",
    "--write-out",
    "-o",
    "--output",
    "-X",
    "--request",
    "-u",
    "--user",
    "-m",
    "--max-time",
    "-A",
    "--user-agent",
    "-e",
    "-b",
    "-c",
    "-F",
    "-T",
    "--connect-timeout",
    "--retry",
    "-x",
    "--proxy",
}
# Host clients and the port they use when given none.
CLIENT_PORTS = {"redis-cli": 6379, "psql": 5432, "pg_isready": 5432}
NOT_HTTP = {"redis": "Redis", "postgres": "PostgreSQL"}


def curl_targets(call: Call) -> list[tuple[str, int]]:
    """(host, port) of each URL a curl call fetches."""
    out = []
    skip = False
    for word in call.argv[1:]:
        if skip:
            skip = False
            continue
        if word in _CURL_VALUES:
            skip = True
            continue
        if word.startswith("-"):
            continue
        url = urlsplit(word if "://" in word else f"http://{word}")
        if not url.hostname:
            continue
        try:
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            continue
        out.append((url.hostname, port))
    return out


def _option(argv: tuple[str, ...], *names: str) -> str | None:
    for i, word in enumerate(argv):
        if word in names and i + 1 < len(argv):
            return argv[i + 1]
    return None


def check(ctx: Context) -> list[Finding]:
    by_port: dict[int, list[StepRef]] = {}
    hosts: dict[str, list[StepRef]] = {}
    for call in ctx.calls_of("curl"):
        for host, port in curl_targets(call):
            if host in LOCAL_HOSTS:
                by_port.setdefault(port, []).append(call.step)
            elif "." not in host:
                hosts.setdefault(host, []).append(call.step)
    for call in ctx.calls_of("ping"):
        host = next((w for w in call.argv[1:] if not w.startswith("-")), "")
        if host and "." not in host and host not in LOCAL_HOSTS:
            hosts.setdefault(host, []).append(call.step)
    clients: dict[int, list[StepRef]] = {}
    for call in ctx.calls_of(*CLIENT_PORTS):  # on the host (docker exec runs them inside)
        address = _option(call.argv, "-h", "--host") or "localhost"
        given = _option(call.argv, "-p", "--port")
        if address in LOCAL_HOSTS and (given is None or given.isdigit()):
            number = int(given) if given else CLIENT_PORTS[call.program]
            clients.setdefault(number, []).append(call.step)
    out = [f for port, steps in by_port.items() if (f := _http_port(ctx, port, steps))]
    out += [f for port, steps in clients.items() if (f := _client_port(ctx, port, steps))]
    out += [_host(ctx, host, steps) for host, steps in hosts.items()]
    return out + _network_hosts(ctx)


def _network_hosts(ctx: Context) -> list[Finding]:
    """`docker exec C pg_isready -h postgres`: inside the compose network a host is a
    service or container name; any other bare name does not resolve."""
    known = set(ctx.deployment.services) | ctx.names()
    missing: dict[str, list[StepRef]] = {}
    for dc in ctx.docker_calls():
        if dc.sub != "exec" or not dc.inner:
            continue
        host = _option(dc.inner, "-h", "--host")
        if host and "." not in host and host not in LOCAL_HOSTS and host not in known:
            missing.setdefault(host, []).append(dc.call.step)
    out = []
    for host, steps in missing.items():
        other = ctx.counterpart(host)
        if other is not None:
            hint = f"the deployment calls it `{other.name}`"
            where = [ctx.service_ref(other, other.line)]
        else:
            hint, where = f"services: {', '.join(ctx.deployment.services)}", [ctx.services_ref()]
        out.append(
            Finding(
                "unknown-network-host",
                FAILS,
                f"inside the compose network no service or container is called `{host}` "
                f"({hint}): the client cannot resolve it",
                unique(steps),
                where,
            )
        )
    return out


def _http_port(ctx: Context, port: int, steps: list[StepRef]) -> Finding | None:
    publishers = ctx.deployment.main.publishers(port) or [
        (s, p) for s in ctx.deployment.services.values() for p in s.ports if p.host == port
    ]
    if not publishers:
        servers = [
            (s, p)
            for s in ctx.deployment.services.values()
            for p in s.ports
            if p.host and running(ctx.deployment, s).kind == "server"
        ]
        hint = "; ".join(f"`{s.name}` ({s.shown_name}) serves on {p.host}" for s, p in servers)
        where = [ctx.service_ref(s, p.line) for s, p in servers] or [ctx.services_ref()]
        return Finding(
            "port-not-published",
            FAILS,
            f"nothing publishes port {port}: curl exits 7 (connection refused)"
            + (f"; {hint}" if hint else ""),
            unique(steps),
            where,
        )
    svc, published = publishers[0]
    image = (svc.image or "").rsplit("/", 1)[-1].split(":")[0]
    if image in NOT_HTTP:
        return Finding(
            "not-http-port",
            FAILS,
            f"port {port} is {NOT_HTTP[image]} (`{svc.name}`), which answers no "
            f"HTTP: curl gets no HTTP reply and fails on a healthy {NOT_HTTP[image]} "
            f"(Redis: exit 52)",
            unique(steps),
            [ctx.service_ref(svc, published.line)],
        )
    run = running(ctx.deployment, svc)
    if not run.serves_nothing:
        return None
    where = [ctx.service_ref(svc, published.line)]
    where += [ctx.ref(ctx.sources.get(shown) or shown, line) for shown, line in run.lines]
    loop = " and, restarted by its policy, loops" if run.exits and svc.restart else ""
    return Finding(
        "no-server-on-port",
        FAILS,
        f"port {port} is published by `{svc.name}` ({svc.shown_name}), whose "
        f"container runs {run.described}{loop}: no HTTP server listens on {port}, "
        f"curl fails",
        unique(steps),
        where,
    )


def _client_port(ctx: Context, port: int, steps: list[StepRef]) -> Finding | None:
    if any(p.host == port for s in ctx.deployment.services.values() for p in s.ports):
        return None
    role = "redis" if port == 6379 else "postgres"
    other = ctx.counterpart(role)
    published = [p for p in other.ports if p.host] if other else []
    if other is not None and published:
        hint = f"`{other.name}` publishes {published[0].host}"
        where = [ctx.service_ref(other, published[0].line)]
    else:
        hint, where = "no service publishes it", [ctx.services_ref()]
    return Finding(
        "port-not-published",
        FAILS,
        f"the host client connects to localhost:{port}, which nothing publishes "
        f"({hint}): connection refused",
        unique(steps),
        where,
    )


def _host(ctx: Context, host: str, steps: list[StepRef]) -> Finding:
    svc = ctx.deployment.service(host) or ctx.deployment.by_container(host)
    if svc is not None:
        why = (
            f"`{host}` is a compose service: its name resolves only inside the compose "
            f"network, never on the host"
        )
        where = [ctx.service_ref(svc, svc.line)]
    else:
        why = f"no service or container of the deployment is called `{host}`"
        where = [ctx.services_ref(f"services: {', '.join(ctx.deployment.services)}")]
    return Finding(
        "host-cannot-resolve",
        FAILS,
        f"the host cannot resolve `{host}`: {why}",
        unique(steps),
        where,
    )
