"""The operator's files on a remote engine: bind mounts become volumes, read back through
the engine's archive API.

A compose bind mount (`./logs/testgen:/var/log/testgen`) names a directory of the machine
that runs compose. On a local engine that is this machine: the directory is in the
stack's temp dir and the runbook's `tail /var/log/testgen/app.log` reads it there. A
remote engine cannot mount this machine's directories, so each relative bind source
becomes a volume of the stack on the engine, and when a runbook command reads the
production path, the files are copied from a container that mounts it (`docker cp`'s
archive API, which also reads a stopped container) into the same place in the temp dir:

    ./logs/testgen ──▶ volume gameday-<stack>_bind_logs_testgen ──▶ /var/log/testgen
    `tail /var/log/testgen/app.log` ──▶ GET /containers/<id>/archive ──▶ <stack dir>/logs/…

The copy is a read-only view: a step that writes into that directory writes the local
copy only. An absolute bind source (`/etc/x:/x`) is a file of this machine the remote
engine cannot see: the stack refuses to start, naming it (`remote_problems`).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from harness.compose import ServiceConfig


def bind_sources(config: ServiceConfig) -> list[tuple[str, str]]:
    """(source, target) of each bind mount of a service (a source that is a path)."""
    found = []
    for entry in config.volumes:
        source, _, rest = entry.partition(":")
        if source.startswith((".", "/")):
            found.append((source, rest.split(":", 1)[0]))
    return found


def volume_name(stack_id: str, source: str) -> str:
    """The stack's volume standing in for a relative bind source on a remote engine."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", source.lstrip("./")).strip("_") or "root"
    return f"gameday-{stack_id}_bind_{slug}"


def remote_problems(configs: dict[str, ServiceConfig]) -> list[str]:
    """What of the stack's configuration cannot work on a remote engine, one line each."""
    return [
        f"service {name}: bind mount {source}:{target} is a path on this machine, which a "
        "remote engine cannot mount (use a named volume or a relative ./path)"
        for name, config in configs.items()
        for source, target in bind_sources(config)
        if source.startswith("/")
    ]


def fetch(client: docker.DockerClient, container_id: str, target: str, local: Path) -> bool:
    """Bring `local` up to date with `target` in the container; False if it cannot be read.
    Each file is replaced by a rename, so a step reading it meanwhile (another detection
    step's `tail`) sees the old copy or the new one, never none."""
    try:
        stream, _ = client.api.get_archive(container_id, target.rstrip("/") + "/.")
        data = b"".join(stream)
    except (NotFound, APIError):
        return False
    local.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=local.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            members = [m for m in archive.getmembers() if m.isfile() or m.isdir()]
            for member in members:
                # `<target>/.` archives as "./…": strip it, and never write outside `local`.
                member.name = member.name.removeprefix("./").lstrip("/")
            archive.extractall(staging, members=[m for m in members if m.name], filter="data")
        for path in sorted(staging.rglob("*")):
            dest = local / path.relative_to(staging)
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                os.replace(path, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True
