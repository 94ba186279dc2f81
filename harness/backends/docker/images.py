"""The stack's images: present in the local engine, or a clear word on how to build them.

Nothing is ever pulled (no registry is reachable). The compose file's default names
(`postgres:16-alpine`, `redis:7-alpine`, `ghcr.io/shopify/toxiproxy:2.12.0`,
`testgen-copilot:latest`) are what scripts/build-offline-images.sh tags its builds with;
POSTGRES_IMAGE, REDIS_IMAGE, TOXIPROXY_IMAGE and TESTGEN_IMAGE override them.
"""

from __future__ import annotations

from collections.abc import Iterable

import docker
from docker.errors import ImageNotFound
from docker.models.images import Image

from harness.backends.docker.location import locate
from harness.errors import StackError

BUILD_HINT = (
    "build the images with scripts/build-offline-images.sh (no registry is "
    "reachable, so nothing is pulled), or point POSTGRES_IMAGE / REDIS_IMAGE / "
    "TOXIPROXY_IMAGE / TESTGEN_IMAGE at images the engine has"
)


def split_reference(image: str) -> tuple[str, str]:
    """`repo[:tag]` → (repo, tag); a registry port (`host:5000/x`) is not a tag."""
    repo, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repo, tag


def local_image(client: docker.DockerClient, image: str) -> Image | None:
    try:
        return client.images.get(image)
    except ImageNotFound:
        return None


def require(client: docker.DockerClient, images: Iterable[str]) -> None:
    """StackError naming every missing image, before anything is created."""
    missing = sorted({i for i in images if local_image(client, i) is None})
    if missing:
        where = locate()
        hint = (
            f"load them into it (`docker save IMAGE… | DOCKER_HOST={where.url} docker load`)"
            if where.remote
            else BUILD_HINT
        )
        raise StackError(
            f"image{'s' if len(missing) > 1 else ''} not in the {where.describe()}: "
            f"{', '.join(missing)}; {hint}"
        )


def image_env(client: docker.DockerClient, image: str) -> dict[str, str] | None:
    """The environment baked into an image (what `docker run --rm IMAGE env` starts with)."""
    found = local_image(client, image)
    if found is None:
        return None
    env: dict[str, str] = {}
    for item in found.attrs.get("Config", {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def rows(client: docker.DockerClient, images: Iterable[str]) -> list[tuple[str, str, str]]:
    """(repository, tag, id) of each image that exists, as `docker images` lists them."""
    out = []
    for image in dict.fromkeys(images):
        found = local_image(client, image)
        if found is not None:
            out.append((*split_reference(image), short_id(str(found.id))))
    return out
