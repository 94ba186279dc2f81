"""What a bridged command receives and answers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Invocation:
    """One call of a bridged tool: its argv, and the shell state it was called from."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    container: str | None = None  # service name when run by `docker exec` inside a container

    @property
    def args(self) -> list[str]:
        return self.argv[1:]


@dataclass
class Completed:
    """The command ran in the bridge: print this and exit with rc."""

    rc: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class Exec:
    """Run the real tool with these arguments (the stack's real addresses filled in)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


Answer = Completed | Exec
