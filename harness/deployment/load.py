"""A deployment directory read whole: compose file(s), Dockerfile(s), `.env.example`,
Makefile, systemd units and Kubernetes manifests, each with its source lines, and every
file that does not load as it stands (`problems`, with file and line).

    deployment = load_deployment("deployments/testgen-head")
    deployment.service("redis").profiles           # ("cache",)
    deployment.problems[0].message                 # "not valid YAML: line 1 is a Markdown fence"

Bad input (no such directory, no compose file at all) raises `DeploymentError` (exit 2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path

from harness.deployment.composefile import ComposeFile, Service, parse_compose_text
from harness.deployment.dockerfile import Dockerfile, Stage, read_dockerfile
from harness.deployment.envfile import EnvFile, read_env_file
from harness.deployment.hostunits import Manifests, Unit, read_manifests, unit_from
from harness.deployment.makefile import Makefile, read_makefile
from harness.deployment.source import SourceFile, read_source
from harness.errors import BadInput

# What plain `docker-compose` / `docker compose` loads, in Compose's order of preference.
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
MAX_FILES = 200  # a deployment dir, not a repository


class DeploymentError(BadInput):
    """The deployment directory cannot be read as one (exit 2, nothing started)."""


@dataclass(frozen=True)
class Problem:
    """A file a tool refuses as it stands (Compose, `docker build`, a shell, make)."""

    shown: str
    line: int | None
    message: str
    kind: str  # "compose" | "dockerfile" | "env" | "manifest"


@dataclass
class Deployment:
    root: Path
    compose: list[ComposeFile]  # the one plain `docker-compose` loads, then its override
    dockerfiles: dict[str, Dockerfile] = field(default_factory=dict)  # by path under root
    env_example: EnvFile | None = None
    makefile: Makefile | None = None
    units: list[Unit] = field(default_factory=list)
    manifests: Manifests = field(default_factory=Manifests)
    other_compose: list[str] = field(default_factory=list)  # compose files `-f` would need
    problems: list[Problem] = field(default_factory=list)

    @property
    def main(self) -> ComposeFile:
        return self.compose[0]

    @property
    def services(self) -> dict[str, Service]:
        """Services as Compose merges the files: what an override sets replaces (lists and
        mappings: extends) the base file's, the rest is kept."""
        merged: dict[str, Service] = {}
        for compose in self.compose:
            for name, service in compose.services.items():
                merged[name] = _merge(merged[name], service) if name in merged else service
        return merged

    def service(self, name: str) -> Service | None:
        return self.services.get(name)

    def by_container(self, name: str) -> Service | None:
        return next((s for s in self.services.values() if s.container_name == name), None)

    def compose_of(self, service: Service) -> ComposeFile:
        return next((c for c in reversed(self.compose) if service.name in c.services), self.main)

    def dockerfile_for(self, service: Service) -> Dockerfile | None:
        if service.build_context is None:
            return None
        context = Path(service.build_context)
        key = str(context / service.build_dockerfile).removeprefix("./")
        return self.dockerfiles.get(str(Path(key)))

    def stage_for(self, service: Service) -> Stage | None:
        """The stage the service's image is built from: its target, else the last stage
        (a target the Dockerfile lacks is a problem of its own; the last stage is what a
        plain `docker build` of the same file gives)."""
        dockerfile = self.dockerfile_for(service)
        if dockerfile is None:
            return None
        return dockerfile.stage(service.build_target) or dockerfile.stage(None)


def _merge(base: Service, override: Service) -> Service:
    out = copy.copy(base)
    blank = Service(override.name, override.line)
    for f in fields(Service):
        value = getattr(override, f.name)
        if f.name in ("name", "line") or value == getattr(blank, f.name):
            continue
        old = getattr(base, f.name)
        if isinstance(value, list):
            value = old + value
        elif isinstance(value, dict):
            value = {**old, **value}
        setattr(out, f.name, value)
    return out


def _shown(root: Path, given: str, path: Path) -> str:
    return str(Path(given) / path.relative_to(root))


def _read(
    root: Path, given: str, path: Path, problems: list[Problem], kind: str
) -> SourceFile | None:
    try:
        return read_source(path, _shown(root, given, path))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problems.append(Problem(_shown(root, given, path), None, f"cannot be read: {exc}", kind))
        return None


_FENCE_EFFECT = {
    "compose": "not valid YAML",
    "dockerfile": "`docker build` fails",
    "env": "not KEY=VALUE lines",
    "manifest": "not valid YAML",
}


def _fence_problem(source: SourceFile, kind: str) -> Problem | None:
    if source.fence is None:
        return None
    line = source.fence.opening_line
    why = f"{_FENCE_EFFECT[kind]}: line {line} is a Markdown fence ({source.fence.opening})"
    return Problem(source.shown, line, why, kind)


def load_deployment(directory: str | Path) -> Deployment:
    """Read the deployment in `directory` (see the module doc)."""
    given = str(directory)
    root = Path(directory)
    if not root.is_dir():
        raise DeploymentError(f"{given}: no such deployment directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    if len(files) > MAX_FILES:
        raise DeploymentError(
            f"{given}: {len(files)} files; a deployment dir holds at most {MAX_FILES}"
        )
    main = next((root / n for n in COMPOSE_NAMES if (root / n).is_file()), None)
    if main is None:
        raise DeploymentError(f"{given}: no compose file ({', '.join(COMPOSE_NAMES)})")
    problems: list[Problem] = []
    compose = [_compose(root, given, main, problems)]
    override = next((root / n for n in OVERRIDE_NAMES if (root / n).is_file()), None)
    if override is not None:
        compose.append(_compose(root, given, override, problems))
    deployment = Deployment(root, compose, problems=problems)
    loaded = {main, override}
    manifest_sources: list[SourceFile] = []
    for path in files:
        if path in loaded:
            continue
        name = path.name
        if name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
            _dockerfile(deployment, root, given, path)
        elif (
            name in (".env.example", ".env.sample", "env.example")
            and deployment.env_example is None
        ):
            _env(deployment, root, given, path)
        elif name in ("Makefile", "makefile", "GNUmakefile") and path.parent == root:
            source = _read(root, given, path, problems, "make")
            deployment.makefile = read_makefile(source) if source else None
        elif name.endswith(".service"):
            source = _read(root, given, path, problems, "unit")
            unit = unit_from(source) if source else None
            if unit:
                deployment.units.append(unit)
        elif name.endswith((".yml", ".yaml")) and "compose" in name:
            deployment.other_compose.append(_shown(root, given, path))
        elif name.endswith((".yml", ".yaml")):
            source = _read(root, given, path, problems, "manifest")
            if source is not None:
                manifest_sources.append(source)
    deployment.manifests = read_manifests(manifest_sources)
    for shown, line, message in deployment.manifests.errors:
        problems.append(Problem(shown, line, message, "manifest"))
    return deployment


def _compose(root: Path, given: str, path: Path, problems: list[Problem]) -> ComposeFile:
    source = _read(root, given, path, problems, "compose")
    if source is None:
        raise DeploymentError(f"{_shown(root, given, path)}: cannot be read")
    fence = _fence_problem(source, "compose")
    if fence:
        problems.append(fence)
    compose = parse_compose_text(source)
    if compose.error:
        problems.append(Problem(source.shown, None, compose.error, "compose"))
    return compose


def _dockerfile(deployment: Deployment, root: Path, given: str, path: Path) -> None:
    source = _read(root, given, path, deployment.problems, "dockerfile")
    if source is None:
        return
    fence = _fence_problem(source, "dockerfile")
    if fence:
        deployment.problems.append(fence)
    dockerfile = read_dockerfile(source)
    if dockerfile.error:
        deployment.problems.append(Problem(source.shown, None, dockerfile.error, "dockerfile"))
    deployment.dockerfiles[str(path.relative_to(root))] = dockerfile


def _env(deployment: Deployment, root: Path, given: str, path: Path) -> None:
    source = _read(root, given, path, deployment.problems, "env")
    if source is None:
        return
    fence = _fence_problem(source, "env")
    if fence:
        deployment.problems.append(fence)
    deployment.env_example = read_env_file(source)
    if deployment.env_example.error:
        deployment.problems.append(Problem(source.shown, None, deployment.env_example.error, "env"))
