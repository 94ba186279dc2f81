"""`.env.example` (or `.env`): the variables a deployment documents, with their lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.deployment.source import SourceFile


@dataclass
class EnvFile:
    source: SourceFile
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (value, line)
    error: str | None = None  # a line a shell or Compose would refuse


def read_env_file(source: SourceFile) -> EnvFile:
    env = EnvFile(source)
    for number, raw in enumerate(source.text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            env.error = env.error or f"line {number}: not KEY=VALUE: {raw.strip()[:60]}"
            continue
        env.values[key] = (value.strip().strip("\"'"), number)
    return env
