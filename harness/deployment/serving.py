"""What a service's container runs, and whether that serves anything on its ports.

The command is Docker's: the service's `entrypoint:` (else the image's ENTRYPOINT) followed by
its `command:` (else the image's CMD, which an `entrypoint:` in the compose file discards).
A shell, a `--help`, or a command-line tool with no server in it listens on nothing, whatever
the compose file publishes.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.deployment.composefile import Service
from harness.deployment.load import Deployment

SHELLS = {"bash", "sh", "zsh", "ash", "dash", "fish"}
REPLS = {"python", "python3", "ipython", "node", "irb"}
USAGE_FLAGS = {"--help", "-h", "help", "--version", "-V", "version"}
SERVERS = {
    "uvicorn",
    "gunicorn",
    "hypercorn",
    "daphne",
    "nginx",
    "httpd",
    "apache2",
    "redis-server",
    "postgres",
    "mysqld",
    "caddy",
    "traefik",
    "flask",
    "waitress-serve",
}
SERVER_WORDS = {"serve", "server", "runserver", "http.server", "start", "web", "api", "--port"}


@dataclass(frozen=True)
class Running:
    """The container's command, where it is written, and what it amounts to."""

    argv: tuple[str, ...]
    lines: tuple[tuple[str, int], ...]  # (file shown, line) of the entrypoint and command
    kind: str  # "shell" | "usage" | "cli" | "server" | "unknown"
    exits: bool  # it ends by itself (usage), so a `restart:` policy loops it

    @property
    def serves_nothing(self) -> bool:
        return self.kind in ("shell", "usage", "cli")

    @property
    def described(self) -> str:
        shown = " ".join(self.argv)
        return {
            "shell": f"an interactive shell (`{shown}`)",
            "usage": f"`{shown}`, which prints usage and exits 0",
            "cli": f"the command-line tool `{shown}`, no server",
        }.get(self.kind, f"`{shown}`")


def running(deployment: Deployment, service: Service) -> Running:
    compose = deployment.compose_of(service).source.shown
    stage = deployment.stage_for(service)
    dockerfile = deployment.dockerfile_for(service)
    shown_df = dockerfile.source.shown if dockerfile else ""
    lines: list[tuple[str, int]] = []
    if service.entrypoint is not None:
        entry = service.entrypoint
        lines.append((compose, service.entrypoint_line or service.line))
    elif stage is not None and stage.entrypoint is not None:
        entry = stage.entrypoint
        lines.append((shown_df, stage.entrypoint_line or stage.line))
    else:
        entry = ()
    if service.command is not None:
        cmd = service.command
        lines.append((compose, service.command_line or service.line))
    elif service.entrypoint is None and stage is not None and stage.cmd is not None:
        cmd = stage.cmd
        lines.append((shown_df, stage.cmd_line or stage.line))
    else:
        cmd = ()
    argv = tuple(entry) + tuple(cmd)
    kind = classify(argv, built=stage is not None, entry=tuple(entry))
    return Running(argv, tuple(lines), kind, exits=kind in ("usage", "cli"))


def classify(argv: tuple[str, ...], built: bool, entry: tuple[str, ...] = ()) -> str:
    """shell | usage | cli | server | unknown (see the module doc)."""
    if not argv:
        return "unknown"
    words = [w.rsplit("/", 1)[-1] for w in argv]
    if words[:2] in (["/bin/sh", "-c"], ["sh", "-c"]) and len(argv) > 2:
        return classify(tuple(argv[2].split()), built)
    first = words[0]
    if first in SHELLS and all(w in {"-i", "-l", "--login"} for w in words[1:]):
        return "shell"
    if first in REPLS and len(words) == 1:
        return "shell"
    if any(w in SERVERS for w in words) or any(w in SERVER_WORDS for w in words[1:]):
        return "server"
    if any(w in USAGE_FLAGS for w in words[1:]):
        return "usage"
    if built and entry and entry[0].rsplit("/", 1)[-1] not in SHELLS | REPLS | SERVERS:
        return "cli"  # the image's entrypoint is a tool of this project, given no server verb
    return "unknown"
