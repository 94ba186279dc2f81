"""What a service's image holds, and the compose text a stack can load.

    image_tools("deployments/testgen-head", "testgen")   # {"git", "curl", "python", ...}
    image_tools(dir, "testgen", engine=True, candidates=["pg_isready"])  # asks the image too
    compose_text("deployments/testgen-head")              # the YAML without its fence

`image_tools` reads the Dockerfile stage the service is built from (its packages and its
base image), or a well-known image the service runs as is. It answers None when it cannot
know (an image it does not know, no Dockerfile). With `engine=True` it also runs
`docker run --rm --entrypoint sh IMAGE -c 'command -v X'` for each candidate, but only when a
Docker engine answers and the image exists locally; the image's answer then wins for
those candidates.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from harness.deployment.composefile import Service
from harness.deployment.dockerfile import known_image_tools
from harness.deployment.load import COMPOSE_NAMES, Deployment, DeploymentError, load_deployment
from harness.deployment.source import SourceFile, read_source

ENGINE_TIMEOUT_S = 20.0


def compose_source(deployment_dir: str | Path) -> SourceFile:
    """The compose file plain `docker-compose` loads from the dir, its fence taken off."""
    root = Path(deployment_dir)
    path = next((root / n for n in COMPOSE_NAMES if (root / n).is_file()), None)
    if path is None:
        raise DeploymentError(f"{deployment_dir}: no compose file ({', '.join(COMPOSE_NAMES)})")
    try:
        return read_source(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeploymentError(f"{path}: cannot be read: {exc}") from None


def compose_text(deployment_dir: str | Path) -> str:
    """The compose file's YAML as a person reads it (fence lines blanked: lines unchanged)."""
    return compose_source(deployment_dir).text


def image_reference(deployment: Deployment, service: Service) -> str:
    """The image `docker-compose up` runs for the service: `image:`, else Compose's
    default for a built service (`<project>-<service>`)."""
    if service.image:
        return service.image
    project = deployment.main.project_name or deployment.root.resolve().name
    project = re.sub(r"[^a-z0-9_-]", "", project.lower())
    return f"{project}-{service.name}"


def dockerfile_tools(deployment: Deployment, service: Service) -> frozenset[str] | None:
    """Tools from the Dockerfile stage (or the well-known image); None if unknowable."""
    stage = deployment.stage_for(service)
    if stage is not None:
        if not stage.base_known and not stage.packages:
            return None
        return stage.tools
    if service.build_context is None and service.image:
        return known_image_tools(service.image)
    return None


def _engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def engine_tools(image: str, candidates: Iterable[str]) -> set[str] | None:
    """Which of `candidates` the local image has on PATH; None if no engine or no image."""
    wanted = sorted(set(candidates))
    if not wanted or not _engine_answers():
        return None
    try:
        inspect = subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, timeout=10, check=False
        )
        if inspect.returncode != 0:
            return None
        script = (
            "for t in "
            + " ".join(shlex.quote(t) for t in wanted)
            + '; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done; true'
        )
        done = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "sh",
                image,
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return {line.strip() for line in done.stdout.splitlines() if line.strip() in wanted}


def image_tools(
    deployment_dir: str | Path | Deployment,
    service: str,
    *,
    engine: bool = False,
    candidates: Iterable[str] = (),
) -> set[str] | None:
    """Programs the image of `service` (a service or container name) has on PATH, or None
    when neither the files nor the image can tell (see the module doc)."""
    deployment = (
        deployment_dir
        if isinstance(deployment_dir, Deployment)
        else load_deployment(deployment_dir)
    )
    svc = deployment.service(service) or deployment.by_container(service)
    if svc is None:
        return None
    found = dockerfile_tools(deployment, svc)
    tools = set(found) if found is not None else None
    if engine:
        wanted = list(candidates)
        seen = engine_tools(image_reference(deployment, svc), wanted)
        if seen is not None:
            tools = (tools or set()) - set(wanted) | seen
    return tools
