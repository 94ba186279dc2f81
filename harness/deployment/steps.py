"""Runbook steps as the drift checks read them: every program a step runs, where it sits in
its pipeline, and what `docker-compose`/`docker` sub-command it is, with its targets.

The command text is read by `harness.shell.commands.pipelines` (the one reader of command
text); this module only names the parts the checks need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.runbook.model import Runbook
from harness.shell.commands import COMPOSE_GLOBAL_VALUE_OPTS, pipelines


@dataclass(frozen=True)
class StepRef:
    """A runbook step, as a finding names it."""

    path: str
    line: int
    section: str
    command: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "section": self.section,
            "command": self.command,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRef:
        return cls(str(data["path"]), int(data["line"]), str(data["section"]), str(data["command"]))


@dataclass(frozen=True)
class Call:
    """One program of a step: its argv, and its place in the pipeline."""

    step: StepRef
    argv: tuple[str, ...]
    position: int  # 0-based index in its pipeline
    pipeline: tuple[tuple[str, ...], ...]
    env: tuple[tuple[str, str], ...] = ()  # `VAR=value prog …` prefixes

    @property
    def program(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""

    @property
    def last_in_pipeline(self) -> bool:
        return self.position == len(self.pipeline) - 1

    @property
    def after(self) -> tuple[tuple[str, ...], ...]:
        return self.pipeline[self.position + 1 :]


_WRAPPERS = {"sudo", "nohup", "time", "env"}


def _strip_prefixes(argv: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    env: list[tuple[str, str]] = []
    while argv:
        name, eq, value = argv[0].partition("=")
        if eq and name.isidentifier():
            env.append((name, value))
        elif argv[0] not in _WRAPPERS:
            break
        argv = argv[1:]
    return argv, env


def step_calls(step: StepRef) -> list[Call]:
    out: list[Call] = []
    for pipeline in pipelines(step.command):
        cleaned = [_strip_prefixes(list(argv)) for argv in pipeline]
        frozen = tuple(tuple(argv) for argv, _ in cleaned)
        for i, (argv, env) in enumerate(cleaned):
            if argv:
                out.append(Call(step, tuple(argv), i, frozen, tuple(env)))
    return out


def runbook_steps(runbook: Runbook) -> list[StepRef]:
    """Every command step of the runbook (comment-only instructions have nothing to run)."""
    return [
        StepRef(runbook.path, step.line, section.title, step.command)
        for section in runbook.sections
        for step in section.steps
        if not step.manual
    ]


# -- docker-compose ------------------------------------------------------------------------

_SUB_VALUES = {
    "--scale",
    "-t",
    "--timeout",
    "--tail",
    "--since",
    "-e",
    "--env",
    "-u",
    "--user",
    "-w",
    "--workdir",
    "--index",
    "--pull",
}


@dataclass(frozen=True)
class ComposeCall:
    call: Call
    sub: str  # "up", "restart", "ps", "down", ...
    services: tuple[str, ...]  # the services named (for `exec`/`run`, the first one only)
    flags: frozenset[str]
    scale: tuple[tuple[str, int], ...] = ()
    profiles: tuple[str, ...] = ()  # --profile P before the sub-command
    files: tuple[str, ...] = ()  # -f FILE


def compose_call(call: Call) -> ComposeCall | None:
    argv = list(call.argv)
    if call.program == "docker-compose":
        rest = argv[1:]
    elif call.program == "docker" and len(argv) > 1 and argv[1] == "compose":
        rest = argv[2:]
    else:
        return None
    profiles: list[str] = []
    files: list[str] = []
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        word = rest[i]
        if word in COMPOSE_GLOBAL_VALUE_OPTS and i + 1 < len(rest):
            if word == "--profile":
                profiles.append(rest[i + 1])
            elif word in ("-f", "--file"):
                files.append(rest[i + 1])
            i += 2
        else:
            i += 1
    if i >= len(rest):
        return None
    sub, args = rest[i], rest[i + 1 :]
    return _compose_args(call, sub, args, tuple(profiles), tuple(files))


def _compose_args(
    call: Call, sub: str, args: list[str], profiles: tuple[str, ...], files: tuple[str, ...]
) -> ComposeCall:
    services: list[str] = []
    flags: set[str] = set()
    scale: list[tuple[str, int]] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            flags.add(name)
            if name in _SUB_VALUES and not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                i += 1
            if name == "--scale":
                svc, _, count = value.partition("=")
                scale.append((svc, int(count) if count.isdigit() else 1))
        else:
            services.append(word)
            if sub in ("exec", "run"):
                break  # the rest is the command run inside
        i += 1
    return ComposeCall(call, sub, tuple(services), frozenset(flags), tuple(scale), profiles, files)


# -- docker --------------------------------------------------------------------------------

_CONTAINER_SUBS = {
    "logs",
    "stats",
    "exec",
    "inspect",
    "restart",
    "stop",
    "start",
    "kill",
    "top",
    "port",
    "pause",
    "unpause",
    "rm",
    "attach",
    "wait",
}
_DOCKER_VALUES = {
    "-e",
    "--env",
    "-u",
    "--user",
    "-w",
    "--workdir",
    "--env-file",
    "-v",
    "--volume",
    "-p",
    "--publish",
    "--name",
    "--entrypoint",
    "--network",
    "--mount",
    "--tail",
    "--since",
    "--until",
    "--format",
    "-f",
    "--filter",
    "-t",
    "--time",
    "-s",
    "--signal",
    "--memory",
    "-m",
}


@dataclass(frozen=True)
class DockerCall:
    call: Call
    sub: str
    targets: tuple[str, ...]  # containers (or, for `run`, the image)
    inner: tuple[str, ...] = ()  # `exec`/`run`: the command run inside
    flags: frozenset[str] = field(default_factory=frozenset)


def docker_call(call: Call) -> DockerCall | None:
    argv = list(call.argv)
    if call.program != "docker" or len(argv) < 2 or argv[1] == "compose":
        return None
    sub, args = argv[1], argv[2:]
    if sub == "container" and args:
        sub, args = args[0], args[1:]
    targets: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("-"):
            name, eq, _ = word.partition("=")
            flags.add(name)
            if name in _DOCKER_VALUES and not eq:
                i += 1
        else:
            targets.append(word)
            if sub in ("exec", "run"):
                return DockerCall(call, sub, (word,), tuple(args[i + 1 :]), frozenset(flags))
        i += 1
    if sub not in _CONTAINER_SUBS and sub != "run":
        targets = []
    return DockerCall(call, sub, tuple(targets), (), frozenset(flags))
