"""Stack backends: `local` (processes, the default) and `docker` (Testcontainers)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.backends.base import Stack
from harness.compose import ComposeFile
from harness.errors import OptionError

BACKENDS = ("auto", "local", "docker")


def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no engine to use
        return False


def choose_backend(name: str | None) -> str:
    name = name or os.environ.get("GAMEDAY_BACKEND") or "local"
    if name not in BACKENDS:
        raise OptionError(f"--backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "auto":
        return "docker" if docker_available() else "local"
    return name


def make_stack(
    backend: str,
    compose: ComposeFile,
    shell_env: Mapping[str, str],
    env_example: Path | None = None,
) -> Stack:
    if backend == "local":
        from harness.backends.local import LocalStack

        return LocalStack(compose, shell_env=shell_env, env_example=env_example)
    if backend == "docker":
        try:
            from harness.backends.docker import DockerStack  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise OptionError(f"the docker backend is not available: {exc}") from None
        return DockerStack(compose, shell_env=shell_env, env_example=env_example)  # type: ignore[no-any-return,unused-ignore]
    raise OptionError(f"unknown backend {backend!r}")
