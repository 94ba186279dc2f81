"""Registers the docker backend: `auto` prefers it when an engine answers and has the
stack's images. Importing this module never imports the docker SDK."""

from __future__ import annotations

import os

from harness.backends import register_backend
from harness.compose import ComposeFile
from harness.errors import HarnessError


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


register_backend(
    "docker",
    "harness.backends.docker:DockerStack",
    problem=docker_problem,
    auto_rank=2,
    auto_reason="a Docker engine answers and has the images",
)
