"""The docker backend: the TestGen stack as containers on the local engine (Testcontainers).

Images are built locally by scripts/build-offline-images.sh (no registry is reachable);
`engine_problem()` says in one line why the backend cannot run, or None when it can.
The names load on first use, so discovering the backend (`backend.py`) never imports the
docker SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.backends.docker.engine import engine_problem
    from harness.backends.docker.stack import DockerStack

__all__ = ["DockerStack", "engine_problem"]


def __getattr__(name: str) -> Any:
    if name == "DockerStack":
        from harness.backends.docker.stack import DockerStack

        return DockerStack
    if name == "engine_problem":
        from harness.backends.docker.engine import engine_problem

        return engine_problem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
