"""A Dockerfile read as `docker build` reads it: stages, what each installs, and what a
container of each stage runs (ENTRYPOINT and CMD, inherited from the stage it builds on).

    df = read_dockerfile(read_source(Path("deployments/testgen-head/Dockerfile")))
    df.stage("development").tools        # {"git", "curl", "python", "bash", ...}
    df.stage(None).entrypoint            # the last stage's: ("testgen",)
    df.error                             # "line 1: unknown instruction ```dockerfile" or None

Which programs a stage has is read from its package installs (apt-get, apk, yum/dnf, pip)
plus what its base image is known to carry; a base image this module does not know adds
nothing, and `Stage.base_known` says so, so a caller can answer "unknown" rather than "absent".
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from harness.deployment.source import SourceFile

INSTRUCTIONS = frozenset(
    {
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "MAINTAINER",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    }
)

# Programs a package puts on PATH, where the name differs from the package's.
PACKAGE_TOOLS: dict[str, frozenset[str]] = {
    "postgresql-client": frozenset({"psql", "pg_isready", "pg_dump", "pg_restore"}),
    "postgresql": frozenset({"psql", "pg_isready", "pg_dump", "postgres", "pg_ctl"}),
    "libpq": frozenset({"psql", "pg_isready"}),
    "redis-tools": frozenset({"redis-cli", "redis-benchmark"}),
    "redis": frozenset({"redis-cli", "redis-server"}),
    "redis-server": frozenset({"redis-server", "redis-cli"}),
    "procps": frozenset({"ps", "top", "pgrep", "pkill", "free", "watch", "vmstat"}),
    "procps-ng": frozenset({"ps", "top", "pgrep", "pkill", "free", "watch"}),
    "psmisc": frozenset({"fuser", "killall", "pstree"}),
    "iputils-ping": frozenset({"ping"}),
    "iproute2": frozenset({"ip", "ss"}),
    "net-tools": frozenset({"netstat", "ifconfig"}),
    "dnsutils": frozenset({"dig", "nslookup"}),
    "bind-tools": frozenset({"dig", "nslookup"}),
    "netcat-openbsd": frozenset({"nc"}),
    "netcat-traditional": frozenset({"nc"}),
    "vim": frozenset({"vim", "vi"}),
    "iotop": frozenset({"iotop"}),
}
_SHELL_AND_CORE = frozenset(
    {"sh", "cat", "ls", "grep", "sed", "awk", "tail", "head", "env", "echo", "kill", "df"}
)
# What well-known base images carry (the official images' documented contents): the
# distribution's core (Debian, or busybox applets on `*-alpine` tags) plus the image's own.
_DEBIAN = _SHELL_AND_CORE | {"bash", "mawk"}
_ALPINE = _SHELL_AND_CORE | {"ps", "top", "free", "ping", "wget", "nc", "pgrep", "pkill"}
IMAGE_OWN_TOOLS: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "python3", "pip", "pip3"}),
    "debian": frozenset(),
    "ubuntu": frozenset(),
    "alpine": frozenset(),
    "postgres": frozenset({"psql", "pg_isready", "pg_dump", "postgres", "pg_ctl"}),
    "redis": frozenset({"redis-cli", "redis-server"}),
    "ollama": frozenset({"ollama"}),
}


def known_image_tools(image: str) -> frozenset[str] | None:
    """Programs a well-known image carries; None for an image this module does not know."""
    repository, _, tag = image.split("@")[0].rpartition(":")
    if not repository or "/" in tag:  # no tag: `redis`, or a registry port
        repository, tag = image.split("@")[0], ""
    name = repository.rsplit("/", 1)[-1]
    if name not in IMAGE_OWN_TOOLS:
        return None
    core = _ALPINE if name == "alpine" or "alpine" in tag else _DEBIAN
    return core | IMAGE_OWN_TOOLS[name]


@dataclass
class Stage:
    """One `FROM … [AS name]` and what follows it."""

    index: int
    name: str | None
    base: str  # image reference or an earlier stage's name
    line: int
    entrypoint: tuple[str, ...] | None = None  # None: not set here nor inherited
    entrypoint_line: int | None = None
    cmd: tuple[str, ...] | None = None
    cmd_line: int | None = None
    packages: dict[str, int] = field(default_factory=dict)  # package -> line installed
    base_tools: frozenset[str] = frozenset()
    base_known: bool = True

    @property
    def tools(self) -> frozenset[str]:
        """Programs on PATH in this stage's image, as far as the file says."""
        out = set(self.base_tools)
        for package in self.packages:
            out |= PACKAGE_TOOLS.get(package, frozenset({package}))
        return frozenset(out)

    def installs_line(self, tool: str) -> int | None:
        for package, line in self.packages.items():
            if tool in PACKAGE_TOOLS.get(package, frozenset({package})):
                return line
        return None


@dataclass
class Dockerfile:
    source: SourceFile
    stages: list[Stage] = field(default_factory=list)
    error: str | None = None  # why `docker build` fails to read it ("line 1: …")
    install_lines: list[int] = field(default_factory=list)  # RUN lines that install packages

    def stage(self, name: str | None) -> Stage | None:
        """The stage `--target name` builds; None names the last stage (no target)."""
        if name is None:
            return self.stages[-1] if self.stages else None
        return next((s for s in self.stages if s.name == name), None)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction text) with `\\` continuations joined, comments dropped."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped by the parser
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        out.append((start, " ".join(p for p in current if p)))
        current = []
    if current:
        out.append((start, " ".join(p for p in current if p)))
    return out


def _exec_form(argument: str) -> tuple[str, ...]:
    """ENTRYPOINT/CMD argument: JSON exec form, else shell form (`sh -c`)."""
    argument = argument.strip()
    if argument.startswith("["):
        try:
            value = json.loads(argument)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return ("/bin/sh", "-c", argument)


_INSTALLERS = (
    ("apt-get", "install"),
    ("apt", "install"),
    ("apk", "add"),
    ("yum", "install"),
    ("dnf", "install"),
    ("microdnf", "install"),
    ("pip", "install"),
    ("pip3", "install"),
)


def installed_packages(run: str) -> list[str]:
    """System and pip packages a RUN instruction installs (names without versions)."""
    try:
        words = shlex.split(run.replace(";", " ; "), comments=False)
    except ValueError:
        words = run.split()
    packages: list[str] = []
    i = 0
    while i < len(words):
        pair = (words[i].rsplit("/", 1)[-1], words[i + 1] if i + 1 < len(words) else "")
        if pair in _INSTALLERS or (words[i] == "-m" and pair[1] == "install"):
            i += 2
            while i < len(words) and words[i] not in {"&&", "||", ";", "|"}:
                word = words[i]
                if not word.startswith("-") and not word.startswith((".", "/")):
                    name = word.split("=")[0].split("[")[0].split(">")[0].split("<")[0]
                    if name and name not in {"install", "add"}:
                        packages.append(name.lower())
                i += 1
        i += 1
    return packages


def _base_tools(image: str) -> tuple[frozenset[str], bool]:
    tools = known_image_tools(image)
    return (tools, True) if tools is not None else (frozenset(), False)


def read_dockerfile(source: SourceFile) -> Dockerfile:
    """Read a Dockerfile's text (its fence already taken off by `read_source`)."""
    df = Dockerfile(source)
    for number, text in logical_lines(source.text):
        keyword, _, argument = text.partition(" ")
        instruction = keyword.upper()
        if instruction not in INSTRUCTIONS:
            df.error = df.error or f"line {number}: unknown instruction {keyword}"
            continue
        if instruction == "FROM":
            df.stages.append(_new_stage(df, number, argument))
            continue
        if not df.stages:
            if instruction != "ARG":
                df.error = df.error or f"line {number}: {instruction} before the first FROM"
            continue
        stage = df.stages[-1]
        if instruction == "ENTRYPOINT":
            stage.entrypoint, stage.entrypoint_line = _exec_form(argument), number
            stage.cmd, stage.cmd_line = None, None  # ENTRYPOINT resets an inherited CMD
        elif instruction == "CMD":
            stage.cmd, stage.cmd_line = _exec_form(argument), number
        elif instruction == "RUN":
            found = installed_packages(argument)
            if found:
                df.install_lines.append(number)
            for package in found:
                stage.packages.setdefault(package, number)
    if not df.stages and df.error is None:
        df.error = "no FROM instruction"
    return df


def _new_stage(df: Dockerfile, number: int, argument: str) -> Stage:
    words = [w for w in argument.split() if not w.startswith("--platform")]
    base = words[0] if words else ""
    name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    stage = Stage(index=len(df.stages), name=name, base=base, line=number)
    parent = df.stage(base) if base else None
    if parent is not None:  # built on an earlier stage: inherits everything it has
        stage.base_tools, stage.base_known = parent.base_tools, parent.base_known
        stage.packages = dict(parent.packages)
        stage.entrypoint, stage.entrypoint_line = parent.entrypoint, parent.entrypoint_line
        stage.cmd, stage.cmd_line = parent.cmd, parent.cmd_line
    else:
        stage.base_tools, stage.base_known = _base_tools(base)
    return stage
