"""The Docker engine connection, and why there is none when there is none.

No container registry is reachable from the machines this project runs on, so the
engine is never asked to pull: images are built locally (scripts/build-offline-images.sh).
That includes Testcontainers' Ryuk reaper image; the stack reaps its own resources
(see `reaper.py`), so Ryuk is switched off when its image is not already present.
"""

from __future__ import annotations

import docker
from docker.errors import DockerException, ImageNotFound
from testcontainers.core.config import testcontainers_config

from harness.backends.docker.location import adopt_docker_context
from harness.errors import StackError

START_HINT = (
    "start the engine (`dockerd &`, or scripts/ci-docker.sh which installs and "
    "starts it) or use --backend local"
)


def engine_problem(timeout: float = 3.0) -> str | None:
    """None when an engine answers; else one line saying why not."""
    adopt_docker_context()
    try:
        client = docker.from_env(timeout=timeout)
    except DockerException as exc:
        return f"no Docker engine answers ({_short(exc)})"
    try:
        client.ping()
    except DockerException as exc:
        return f"no Docker engine answers ({_short(exc)})"
    finally:
        client.close()
    return None


def connect(timeout: float = 60.0) -> docker.DockerClient:
    """A client for the engine; StackError with what to do when there is none."""
    adopt_docker_context()
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise StackError(
            f"the docker backend needs a Docker engine: {_short(exc)}; {START_HINT}"
        ) from None
    _no_ryuk_unless_present(client)
    return client


def _no_ryuk_unless_present(client: docker.DockerClient) -> None:
    if testcontainers_config.ryuk_disabled:
        return
    try:
        client.images.get(testcontainers_config.ryuk_image)
    except ImageNotFound:
        # Starting Ryuk would mean a pull, which cannot succeed here.
        testcontainers_config.ryuk_disabled = True
    except DockerException:
        testcontainers_config.ryuk_disabled = True


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
