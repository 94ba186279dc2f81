"""The docker backend: the TestGen stack as containers on the local engine (Testcontainers).

Images are built locally by scripts/build-offline-images.sh (no registry is reachable);
`engine_problem()` says in one line why the backend cannot run, or None when it can.
"""

from harness.backends.docker.engine import engine_problem
from harness.backends.docker.stack import DockerStack

__all__ = ["DockerStack", "engine_problem"]
