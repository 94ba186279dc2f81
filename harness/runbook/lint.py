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

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

import harness
from harness.bridge.registry import bridged_tools
from harness.compose import ComposeFile
from harness.runbook.lint_addresses import AddressChecks
from harness.runbook.lint_files import ABS_PATH, FileChecks
from harness.runbook.lint_metrics import METRICS_SOURCE, MetricUse, exported_metrics
from harness.runbook.lint_stack import URL, Finding, LintStack, Where
from harness.runbook.model import Runbook, Step
from harness.runbook.parse import parse_runbook
from harness.shell.commands import COMPOSE_GLOBAL_VALUE_OPTS, pipelines
from harness.shell.manual import manual_reason

__all__ = ["Finding", "LintReport", "MetricUse", "exported_metrics", "lint_runbook", "to_text"]

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


def _positionals(args: list[str], value_opts: AbstractSet[str]) -> list[str]:
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


class _Linter(AddressChecks, FileChecks):
    """Walks the runbook's steps and prose; the address and file checks record findings."""

    def __init__(self, runbook: Runbook, stack: LintStack, metrics: list[str]) -> None:
        super().__init__(stack)
        self.runbook, self.metrics = runbook, metrics
        self.metric_uses: list[MetricUse] = []

    # -- commands ------------------------------------------------------------------------
    def step(self, step: Step) -> None:
        where = (step.line, step.command, step.section)
        for url in URL.findall(step.comment):
            self.url(url, (step.line, step.comment.splitlines()[0], step.section))
        if not step.command:
            return
        for pipeline in pipelines(step.command):
            for i, words in enumerate(pipeline):
                self.simple(words, where, container=None)
                if i and words[0] == "grep" and self.scrapes_service(pipeline[i - 1]):
                    self.metric(_positionals(words[1:], {"-e", "-m", "-A", "-B", "-C"}), step.line)

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

    def simple(self, words: list[str], where: Where, container: str | None) -> None:
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

    def file(self, path: str, where: Where) -> None:
        if path.startswith("/"):
            self.absolute_file(path, where)
        else:
            self.relative_file(path, where)

    def docker(self, args: list[str], where: Where) -> None:
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

    def docker_compose(self, args: list[str], where: Where) -> None:
        line, command, section = where
        pos = _positionals(args, COMPOSE_GLOBAL_VALUE_OPTS)
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
            for url in URL.findall(tok.content):
                self.url(url, where)
            for child in tok.children or []:
                if child.type == "code_inline":
                    for p in ABS_PATH.findall(child.content):
                        self.absolute_file(p, where)


def lint_runbook(
    runbook_path: str | Path, compose_path: str | Path, metrics_source: Path = METRICS_SOURCE
) -> LintReport:
    """Everything `gameday lint` reports; BadInput for an unusable runbook or compose file."""
    runbook = parse_runbook(runbook_path)
    compose = ComposeFile(compose_path)
    metrics = exported_metrics(metrics_source)
    linter = _Linter(runbook, LintStack(compose), metrics)
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
