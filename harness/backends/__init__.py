"""Stack backends: `local` (processes, the default) and `docker` (Testcontainers); `fake`
(in memory, for testing the runner) only when named."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.backends.base import Stack
from harness.compose import ComposeFile
from harness.errors import HarnessError, OptionError

BACKENDS: tuple[str, ...] = ("auto", "local", "docker", "fake")


def docker_problem(compose: ComposeFile | None = None) -> str | None:
    """Why the docker backend cannot run here (no engine, images not built), or None."""
    try:
        from harness.backends.docker import engine, images
    except ImportError as exc:
        return f"the docker backend cannot load: {exc}"
    problem = engine.engine_problem()
    if problem is not None or compose is None:
        return problem
    import docker

    client = docker.from_env(timeout=5)
    try:
        configs, _ = compose.resolve(dict(os.environ))
        images.require(client, sorted({c.image for c in configs.values()}))
    except HarnessError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def choose_backend(name: str | None, compose: ComposeFile | None = None) -> str:
    return select_backend(name, compose)[0]


def select_backend(name: str | None, compose: ComposeFile | None = None) -> tuple[str, str]:
    """(backend, why). `auto` (the default) is docker when an engine answers and has the
    stack's images, local otherwise; an explicit `docker` that cannot run is bad input."""
    name = name or os.environ.get("GAMEDAY_BACKEND") or "auto"
    if name not in BACKENDS:
        raise OptionError(f"--backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name not in ("auto", "docker"):  # `auto` picks only local or docker
        return name, "chosen"
    problem = docker_problem(compose)
    if name == "docker":
        if problem:
            raise OptionError(f"--backend docker: {problem}")
        return "docker", "chosen"
    if problem:
        return "local", f"auto: {problem}"
    return "docker", "auto: a Docker engine answers and has the images"


StackClass = Callable[..., Stack]  # (compose, shell_env=..., env_example=...) -> Stack

# name -> "module:Class", imported only when that backend is used (docker's imports need
# the docker SDK; the fake's the in-process servers). `register_backend` adds one.
REGISTRY: dict[str, str | StackClass] = {
    "local": "harness.backends.local:LocalStack",
    "docker": "harness.backends.docker:DockerStack",
    "fake": "harness.backends.fake:FakeStack",
}


def register_backend(name: str, stack_class: str | StackClass) -> None:
    """A new backend: a `Stack` implementation by name (chosen only when named)."""
    REGISTRY[name] = stack_class
    global BACKENDS
    if name not in BACKENDS:
        BACKENDS = (*BACKENDS, name)


def make_stack(
    backend: str,
    compose: ComposeFile,
    shell_env: Mapping[str, str],
    env_example: Path | None = None,
) -> Stack:
    entry = REGISTRY.get(backend)
    if entry is None:
        raise OptionError(f"unknown backend {backend!r}")
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise OptionError(f"the {backend} backend is not available: {exc}") from None
    assert callable(entry)
    return entry(compose, shell_env=shell_env, env_example=env_example)
