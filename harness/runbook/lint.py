"""`gameday lint RUNBOOK`: what in the runbook a gameday cannot exercise, found without a stack.

Three lists, all from reading files (nothing is started, nothing scraped):

* steps the command bridge cannot run, with `harness.shell.manual.manual_reason`;
* names the runbook uses that the compose file does not have: compose services
  (`docker-compose restart X`, `--scale X=2`), container names (`docker logs X`,
  `docker exec X ...`), images (`docker run IMAGE`), hosts (URLs, `ping`, `-h HOST`),
  ports (a `localhost:PORT` needs a published host port; `service:PORT` a port the
  service listens on) and files (absolute paths need an `x-host-paths` mapping and, below
  it, a file some service is configured to write; relative files must exist beside the
  compose file or be created by an earlier step, as `cp .env.example .env` does);
* metrics the runbook greps for in `curl .../metrics | grep NAME` that the service does
  not export; the exported names are read from `harness/services/testgen/metrics.py`
  with `ast` (Counter `x` is exported as `x_total`, Histogram `y` as `y_bucket`,
  `y_count`, `y_sum`, plus the process collector's `process_*`).

Names are found in step commands (shell words, per simple command), in step comments
(URLs) and in the runbook's prose and inline code (URLs, absolute paths), each with the
runbook line(s) that name it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

import harness
from harness.bridge.registry import bridged_tools
from harness.compose import ComposeFile, ServiceConfig
from harness.runbook.model import Runbook, Step
from harness.runbook.parse import parse_runbook
from harness.shell.commands import pipelines
from harness.shell.manual import manual_reason
from harness.topology import LOOPBACK, PROVIDER_HOSTS

METRICS_SOURCE = Path(harness.__file__).parent / "services" / "testgen" / "metrics.py"
METRICS_SERVICE = "testgen"  # the compose service that runs harness.services.testgen
# prometheus_client's ProcessCollector (Linux): what `ProcessCollector(registry=...)` adds.
PROCESS_METRICS = (
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
)
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_count", "_sum", "_created"),
    "Summary": ("_count", "_sum", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}
_URL = re.compile(r"\bhttps?://[^\s`'\"<>)]+")
_ABS_PATH = re.compile(r"(?<![\w:/.])(/(?:var|etc|opt|srv|home|usr|data|logs?)/[\w.*/-]+)")
_SYSTEM_PATHS = ("/dev/", "/proc/", "/sys/", "/tmp/", "/usr/bin/", "/bin/")
_READS_FILES = {
    "cat",
    "tail",
    "head",
    "less",
    "more",
    "vim",
    "vi",
    "nano",
    "emacs",
    "source",
    ".",
    "wc",
    "sort",
}
_DOCKER_VALUE_OPTS = {
    "logs": {"--since", "--until", "--tail", "-n"},
    "exec": {"-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file"},
    "run": {
        "-e",
        "--env",
        "-p",
        "--publish",
        "-v",
        "--volume",
        "--name",
        "--network",
        "--entrypoint",
        "-u",
        "--user",
        "-w",
        "--workdir",
        "--env-file",
        "--mount",
        "-m",
        "--memory",
        "--cpus",
        "-l",
        "--label",
        "-h",
        "--hostname",
    },
    "stop": {"-t", "--time", "-s", "--signal"},
    "restart": {"-t", "--time", "-s", "--signal"},
    "kill": {"-s", "--signal"},
    "stats": {"--format"},
    "inspect": {"-f", "--format", "--type"},
}
_DOCKER_CONTAINER_CMDS = {
    "logs",
    "exec",
    "stop",
    "restart",
    "kill",
    "stats",
    "inspect",
    "start",
    "rm",
    "top",
    "port",
    "pause",
    "unpause",
    "wait",
    "attach",
}
_COMPOSE_GLOBAL_VALUE_OPTS = {
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--profile",
    "--env-file",
    "--project-directory",
}
_COMPOSE_VALUE_OPTS = {
    "--scale",
    "-t",
    "--timeout",
    "--tail",
    "--since",
    "--until",
    "-e",
    "--env",
    "-u",
    "--user",
    "-w",
    "--workdir",
    "--index",
    "--wait-timeout",
    "--pull",
}
_COMPOSE_SERVICE_CMDS = {
    "restart",
    "up",
    "ps",
    "stop",
    "start",
    "logs",
    "rm",
    "pull",
    "build",
    "kill",
    "pause",
    "unpause",
    "create",
    "top",
    "port",
    "exec",
    "run",
    "images",
    "events",
}


@dataclass
class Finding:
    kind: str  # manual | service | container | image | host | port | file | metric
    name: str
    reason: str
    lines: list[int] = field(default_factory=list)
    command: str = ""  # the first command (or text) that names it
    section: str = ""


@dataclass
class MetricUse:
    name: str
    line: int
    exported: bool


@dataclass
class LintReport:
    runbook: str
    compose: str
    steps: int
    manual: list[Finding]
    missing: list[Finding]
    metrics: list[MetricUse]
    exported_metrics: list[str]

    @property
    def unexported(self) -> list[MetricUse]:
        return [m for m in self.metrics if not m.exported]


def exported_metrics(source: Path = METRICS_SOURCE) -> list[str]:
    """Metric sample names the service exports, read from its source with `ast`."""
    tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
    names: list[str] = []
    process = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = (
            node.func.id
            if isinstance(node.func, ast.Name)
            else (node.func.attr if isinstance(node.func, ast.Attribute) else "")
        )
        if func == "ProcessCollector":
            process = True
        if (
            func in _SUFFIXES
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            base = node.args[0].value
            if func == "Counter":
                base = base.removesuffix("_total")
            names += [base + suffix for suffix in _SUFFIXES[func]]
    if process:
        names += PROCESS_METRICS
    return sorted(set(names))


def _positionals(args: list[str], value_opts: set[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a.startswith("-"):
            if a in value_opts:
                skip = True
            continue
        out.append(a)
    return out


def _option_values(args: list[str], names: set[str]) -> list[str]:
    out = []
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            out.append(args[i + 1])
        for n in names:
            if n.startswith("--") and a.startswith(n + "="):
                out.append(a.split("=", 1)[1])
    return out


class _Stack:
    """What the compose file has, in the terms the runbook uses."""

    def __init__(self, compose: ComposeFile) -> None:
        self.compose = compose
        configs, _ = compose.resolve({})
        self.configs: dict[str, ServiceConfig] = configs
        self.services = set(configs)
        self.containers = {c.container_name: name for name, c in configs.items()}
        self.images = {c.image for c in configs.values()}
        self.images |= {i.removesuffix(":latest") for i in self.images}
        self.published_by = {host: name for name, c in configs.items() for host, _ in c.ports}
        self.published = set(self.published_by)
        self.listens: dict[str, set[int]] = {
            name: {cp for _, cp in c.ports} for name, c in configs.items()
        }
        for link in compose.proxies:
            self.listens.setdefault(link.upstream_service, set()).add(link.upstream_port)
            for name in self.services:
                if compose.spec(name).get("x-local", {}).get("kind") == "toxiproxy":
                    self.listens[name].add(link.listen_port)
        for name, c in configs.items():
            text = (
                " ".join(map(str, c.local.get("command", []) or []))
                + " "
                + " ".join(map(str, (c.local.get("env") or {}).values()))
            )
            self.listens[name] |= {int(p) for p in re.findall(r"\{port:(\d+)\}", text)}
            if c.healthcheck:
                for url in _URL.findall(" ".join(c.healthcheck.test)):
                    port = urlsplit(url).port
                    if port:
                        self.listens[name].add(port)
        self.host_paths = dict(compose.host_paths)
        self.configured_files = {
            v for c in configs.values() for _, v in c.environment if v.startswith("/")
        }
        self.base = compose.path.parent

    def service_of_host(self, host: str) -> str | None:
        if host in self.services:
            return host
        return self.containers.get(host)


class _Linter:
    def __init__(self, runbook: Runbook, stack: _Stack, metrics: list[str]) -> None:
        self.runbook, self.stack, self.metrics = runbook, stack, metrics
        self.found: dict[tuple[str, str], Finding] = {}
        self.metric_uses: list[MetricUse] = []
        self.created: set[str] = set()  # files earlier steps create (cp/mv/touch destinations)

    def miss(
        self, kind: str, name: str, reason: str, line: int, command: str, section: str
    ) -> None:
        f = self.found.setdefault(
            (kind, name), Finding(kind, name, reason, [], " ".join(command.split()), section)
        )
        if line not in f.lines:
            f.lines.append(line)

    # -- hosts and ports ---------------------------------------------------------------
    def host_port(
        self,
        host: str,
        port: int | None,
        where: tuple[int, str, str],
        container: str | None = None,
        what: str = "",
    ) -> None:
        line, command, section = where
        host = host.strip("[]").lower()
        label = f"{host}:{port}" if port else host
        if host in PROVIDER_HOSTS:
            return  # the provider API: the stack's mock LLM answers it
        if host in LOOPBACK:
            if port is None:
                return
            if container is not None:
                service = self.stack.service_of_host(container)
                if service and port not in self.stack.listens.get(service, set()):
                    self.miss(
                        "port",
                        f"{container}:{port}",
                        f"{what}nothing in service {service!r} is known to listen on {port}",
                        line,
                        command,
                        section,
                    )
                return
            if port not in self.stack.published:
                published = ", ".join(map(str, sorted(self.stack.published))) or "none"
                self.miss(
                    "port",
                    label,
                    f"the compose file publishes no host port {port} (published: {published})",
                    line,
                    command,
                    section,
                )
            return
        service = self.stack.service_of_host(host)
        if service is None:
            self.miss(
                "host",
                host,
                f"{what}no service or container named {host!r} in the compose file",
                line,
                command,
                section,
            )
        elif port is not None and port not in self.stack.listens.get(service, set()):
            ports = (
                ", ".join(map(str, sorted(self.stack.listens.get(service, set())))) or "none known"
            )
            self.miss(
                "port",
                label,
                f"{what}service {service!r} listens on {ports}, not {port}",
                line,
                command,
                section,
            )

    def url(self, url: str, where: tuple[int, str, str], container: str | None = None) -> None:
        parts = urlsplit(url if "://" in url else "http://" + url)
        if not parts.hostname:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return
        self.host_port(parts.hostname, port, where, container, what=f"{url}: ")

    # -- files ---------------------------------------------------------------------------
    def absolute_file(self, path: str, where: tuple[int, str, str]) -> None:
        if path.startswith(_SYSTEM_PATHS) or path in ("/", "/dev/null"):
            return
        line, command, section = where
        mapped = [
            p for p in self.stack.host_paths if path == p or path.startswith(p.rstrip("/") + "/")
        ]
        if not mapped:
            have = ", ".join(sorted(self.stack.host_paths)) or "none"
            self.miss(
                "file",
                path,
                f"no x-host-paths mapping covers it (mapped: {have})",
                line,
                command,
                section,
            )
            return
        root = mapped[0].rstrip("/")
        if path == root or "*" in path or path.endswith("/"):
            return
        if path not in self.stack.configured_files:
            known = ", ".join(
                sorted(f for f in self.stack.configured_files if f.startswith(root + "/"))
            )
            self.miss(
                "file",
                path,
                f"{root} is mapped, but no service is configured to write this "
                f"file (configured: {known or 'none'})",
                line,
                command,
                section,
            )

    def relative_file(self, path: str, where: tuple[int, str, str]) -> None:
        if path in self.created or path.startswith(("-", "$")) or "://" in path:
            return
        if not (self.stack.base / path).exists():
            line, command, section = where
            self.miss(
                "file",
                path,
                f"no such file beside the compose file ({self.stack.base}) and "
                "no earlier step creates it",
                line,
                command,
                section,
            )

    # -- commands ------------------------------------------------------------------------
    def step(self, step: Step) -> None:
        where = (step.line, step.command, step.section)
        for url in _URL.findall(step.comment):
            self.url(url, (step.line, step.comment.splitlines()[0], step.section))
        if not step.command:
            return
        for pipeline in pipelines(step.command):
            for i, words in enumerate(pipeline):
                self.simple(words, where, container=None)
                if i and words[0] == "grep" and self.scrapes_service(pipeline[i - 1]):
                    self.metric(_positionals(words[1:], {"-e", "-m", "-A", "-B", "-C"}), step.line)

    def scrapes_service(self, words: list[str]) -> bool:
        """`curl` of the TestGen service's /metrics (the one metrics.py describes)."""
        if words[0].rsplit("/", 1)[-1] != "curl":
            return False
        for word in words[1:]:
            if "://" not in word or "/metrics" not in word:
                continue
            parts = urlsplit(word)
            host = (parts.hostname or "").lower()
            try:
                port = parts.port or 80
            except ValueError:
                continue
            if host in LOOPBACK:
                service = self.stack.published_by.get(port)
            else:
                service = self.stack.service_of_host(host)
            if service == METRICS_SERVICE:
                return True
        return False

    def metric(self, patterns: list[str], line: int) -> None:
        if not patterns:
            return
        pattern = patterns[0]
        try:
            rx = re.compile(pattern)
            exported = any(rx.search(name) for name in self.metrics)
        except re.error:
            exported = any(pattern in name for name in self.metrics)
        self.metric_uses.append(MetricUse(pattern, line, exported))

    def simple(self, words: list[str], where: tuple[int, str, str], container: str | None) -> None:
        program, args = words[0].rsplit("/", 1)[-1], words[1:]
        if program == "docker" and args[:1] == ["compose"]:
            program, args = "docker-compose", args[1:]
        if program == "docker":
            self.docker(args, where)
        elif program == "docker-compose":
            self.docker_compose(args, where)
        elif program == "curl":
            for a in args:
                if "://" in a:
                    self.url(a, where, container)
        elif program == "ping":
            hosts = _positionals(args, {"-c", "-i", "-W", "-w", "-s", "-t", "-I"})
            if hosts:
                self.host_port(hosts[0], None, where, container, what="ping: ")
        elif program in ("redis-cli", "psql", "pg_isready"):
            default_port = 6379 if program == "redis-cli" else 5432
            hosts = _option_values(args, {"-h", "--host"})
            ports = _option_values(args, {"-p", "--port"})
            urls = _option_values(args, {"-u"}) if program == "redis-cli" else []
            for u in urls:
                self.url(u, where, container)
            if not urls and (hosts or program != "psql" or container is None):
                port = int(ports[0]) if ports and ports[0].isdigit() else default_port
                self.host_port(
                    hosts[0] if hosts else "localhost", port, where, container, what=f"{program}: "
                )
        if container is not None:
            return  # paths inside a container are the image's business
        if program in ("cp", "mv", "touch", "install"):
            paths = _positionals(args, set())
            sources, dest = (paths, []) if program == "touch" else (paths[:-1], paths[-1:])
            for p in sources if program != "touch" else []:
                self.file(p, where)
            self.created.update(dest + (paths if program == "touch" else []))
        elif program in _READS_FILES:
            for p in _positionals(args, {"-n", "-c"}):
                if not p.lstrip("+-").isdigit():
                    self.file(p, where)
        elif program == "grep":
            pos = _positionals(args, {"-e", "-m", "-A", "-B", "-C", "-f"})
            for p in pos[1:]:
                self.file(p, where)
        else:
            for a in args:
                if a.startswith("/") and not a.startswith("//"):
                    self.absolute_file(a, where)

    def file(self, path: str, where: tuple[int, str, str]) -> None:
        if path.startswith("/"):
            self.absolute_file(path, where)
        else:
            self.relative_file(path, where)

    def docker(self, args: list[str], where: tuple[int, str, str]) -> None:
        line, command, section = where
        sub_at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
        if sub_at is None:
            return
        sub, rest = args[sub_at], args[sub_at + 1 :]
        if sub == "container" and rest:
            sub, rest = rest[0], rest[1:]
        value_opts = _DOCKER_VALUE_OPTS.get(sub, set())
        if sub == "run":
            pos = _positionals(rest, value_opts)
            if pos and pos[0] not in self.stack.images:
                images = ", ".join(sorted(i for i in self.stack.images if ":" in i))
                self.miss(
                    "image",
                    pos[0],
                    f"no service of the compose file uses this image (images: {images})",
                    line,
                    command,
                    section,
                )
            return
        if sub not in _DOCKER_CONTAINER_CMDS:
            return
        pos = _positionals(rest, value_opts)
        names = pos[:1] if sub in ("logs", "exec", "top", "port") else pos
        for name in names:
            if name not in self.stack.containers:
                hint = (
                    f"; {name!r} is a service, its container is "
                    f"{self.stack.configs[name].container_name!r}"
                    if name in self.stack.services
                    else ""
                )
                self.miss(
                    "container",
                    name,
                    "no container of that name in the compose file "
                    f"(containers: {', '.join(sorted(self.stack.containers))}){hint}",
                    line,
                    command,
                    section,
                )
        if sub == "exec" and len(pos) > 1:
            inner = rest[rest.index(pos[0]) + 1 :]
            self.simple(inner, where, container=pos[0])

    def docker_compose(self, args: list[str], where: tuple[int, str, str]) -> None:
        line, command, section = where
        pos = _positionals(args, _COMPOSE_GLOBAL_VALUE_OPTS)
        if not pos:
            return
        sub = pos[0]
        rest = args[args.index(sub) + 1 :]
        services = [v.split("=", 1)[0] for v in _option_values(rest, {"--scale"})]
        if sub in _COMPOSE_SERVICE_CMDS:
            svc_args = _positionals(rest, _COMPOSE_VALUE_OPTS)
            services += svc_args[:1] if sub in ("exec", "run", "port") else svc_args
        for name in services:
            if name not in self.stack.services:
                hint = (
                    f"; {name!r} is the container of service {self.stack.containers[name]!r}"
                    if name in self.stack.containers
                    else ""
                )
                self.miss(
                    "service",
                    name,
                    "no such service in the compose file (services: "
                    f"{', '.join(sorted(self.stack.services))}){hint}",
                    line,
                    command,
                    section,
                )

    # -- prose ---------------------------------------------------------------------------
    def prose(self, text: str) -> None:
        """URLs and absolute paths named outside the runnable steps (prose, inline code)."""
        tokens = MarkdownIt().parse(text)
        section = ""
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and i + 1 < len(tokens):
                section = tokens[i + 1].content
            if tok.type != "inline" or tok.map is None:
                continue
            line = tok.map[0] + 1
            where = (line, tok.content.splitlines()[0] if tok.content else "", section)
            for url in _URL.findall(tok.content):
                self.url(url, where)
            for child in tok.children or []:
                if child.type == "code_inline":
                    for p in _ABS_PATH.findall(child.content):
                        self.absolute_file(p, where)


def lint_runbook(
    runbook_path: str | Path, compose_path: str | Path, metrics_source: Path = METRICS_SOURCE
) -> LintReport:
    """Everything `gameday lint` reports; BadInput for an unusable runbook or compose file."""
    runbook = parse_runbook(runbook_path)
    compose = ComposeFile(compose_path)
    metrics = exported_metrics(metrics_source)
    linter = _Linter(runbook, _Stack(compose), metrics)
    steps = [s for section in runbook.sections for s in section.steps]
    manual, bridged = [], bridged_tools()
    for step in sorted(steps, key=lambda s: s.line):
        reason = manual_reason(step.command, step.comment, bridged)
        if reason is not None:
            manual.append(
                Finding(
                    "manual",
                    step.command or f"# {step.comment.splitlines()[0]}",
                    reason,
                    [step.line],
                    step.command,
                    step.section,
                )
            )
        linter.step(step)
    linter.prose(Path(runbook_path).read_text(encoding="utf-8"))
    missing = sorted(linter.found.values(), key=lambda f: (f.kind, min(f.lines), f.name))
    return LintReport(
        str(runbook_path),
        str(compose_path),
        len(steps),
        manual,
        missing,
        linter.metric_uses,
        metrics,
    )


def _lines(lines: list[int]) -> str:
    ordered = sorted(lines)
    return ("line " if len(ordered) == 1 else "lines ") + ", ".join(map(str, ordered))


def to_text(report: LintReport) -> str:
    out = [
        f"{report.runbook}: {report.steps} steps; {len(report.manual)} the bridge cannot run; "
        f"{len(report.missing)} name(s) {report.compose} does not have; "
        f"{len(report.unexported)} grepped metric(s) the service does not export",
        "",
    ]
    out.append("Steps the bridge cannot run (reported manual in every gameday):")
    section = None
    for f in report.manual:
        if f.section != section:
            section = f.section
            out.append(f"  [{section}]")
        first = f.name.splitlines()[0]
        out.append(f"    line {f.lines[0]:>3}  {first}")
        out.append(f"              {f.reason.splitlines()[0]}")
    if not report.manual:
        out.append("  none")
    out += ["", f"Names the compose file ({report.compose}) does not have:"]
    for f in report.missing:
        out.append(f"  {f.kind:<9} {f.name}  ({_lines(f.lines)})")
        out.append(f"            {f.reason}")
    if not report.missing:
        out.append("  none")
    out += [
        "",
        "Metrics the runbook greps for (exported names read from "
        f"{METRICS_SOURCE.relative_to(Path(harness.__file__).parent.parent)}):",
    ]
    for m in report.metrics:
        out.append(f"  {'ok' if m.exported else 'NOT EXPORTED':<12} {m.name}  (line {m.line})")
    if not report.metrics:
        out.append("  none")
    return "\n".join(out) + "\n"
