"""What every drift check reads: the deployment, the runbook's steps split into calls, and
the questions several checks ask (which services a `docker-compose up` starts, which
service a runbook name stands for, where a deployment line is)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.deployment.composefile import Service
from harness.deployment.load import Deployment
from harness.deployment.report import DeploymentRef
from harness.deployment.source import SourceFile
from harness.deployment.steps import (
    Call,
    ComposeCall,
    DockerCall,
    StepRef,
    compose_call,
    docker_call,
    step_calls,
)

# The runbook's names for the roles a deployment may have renamed, and how to recognise
# the role in a deployment: by the service's image or, for the app, by being built here.
ROLE_IMAGES = {
    "redis": "redis",
    "postgres": "postgres",
    "ollama": "ollama",
    "prometheus": "prometheus",
    "grafana": "grafana",
}
APP_NAMES = ("testgen", "testgen-copilot")


@dataclass
class Context:
    deployment: Deployment
    steps: list[StepRef]
    engine: bool = False  # ask a local Docker engine about images
    redact: Callable[[str], str] = str
    calls: list[Call] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.calls = [c for step in self.steps for c in step_calls(step)]
        d = self.deployment
        found = [c.source for c in d.compose] + [f.source for f in d.dockerfiles.values()]
        found += [f.source for f in (d.env_example, d.makefile) if f is not None]
        self.sources = {s.shown: s for s in found}

    # -- the runbook side --------------------------------------------------------------

    def compose_calls(self) -> list[ComposeCall]:
        return [cc for c in self.calls if (cc := compose_call(c)) is not None]

    def docker_calls(self) -> list[DockerCall]:
        return [dc for c in self.calls if (dc := docker_call(c)) is not None]

    def calls_of(self, *programs: str) -> list[Call]:
        return [c for c in self.calls if c.program in programs]

    # -- the deployment side -----------------------------------------------------------

    def ref(self, source: SourceFile | str, line: int | None, note: str = "") -> DeploymentRef:
        """A deployment location; its text is the line as written (or `note`), masked."""
        if isinstance(source, str):
            return DeploymentRef(source, line, self.redact(note))
        text = source.line(line).strip() if line else ""
        if note:
            text = f"{text}  ({note})" if text else note
        return DeploymentRef(source.shown, line, self.redact(text))

    def service_ref(self, service: Service, line: int | None, note: str = "") -> DeploymentRef:
        source = self.deployment.compose_of(service).source
        return self.ref(source, line or service.line, note)

    def services_ref(self, note: str = "") -> DeploymentRef:
        main = self.deployment.main
        return self.ref(main.source, main.services_line, note)

    def counterpart(self, name: str) -> Service | None:
        """The deployment's service for a runbook name: by service or container name, else
        by role (the Redis the runbook calls `redis` may be a service called `cache`)."""
        d = self.deployment
        found = d.service(name) or d.by_container(name)
        if found is not None:
            return found
        for role, image in ROLE_IMAGES.items():
            if role in name:
                for svc in d.services.values():
                    if svc.image and image in svc.image.split(":")[0]:
                        return svc
        if any(app == name or name.startswith(app) for app in APP_NAMES):
            built = [s for s in d.services.values() if s.build_context is not None]
            return built[0] if built else None
        return None

    def names(self) -> set[str]:
        """Every name `docker ps` can show: container names, else Compose's defaults."""
        project = self.deployment.main.project_name or self.deployment.root.resolve().name
        project = re.sub(r"[^a-z0-9_-]", "", project.lower())
        out: set[str] = set()
        for svc in self.deployment.services.values():
            out |= (
                {svc.container_name}
                if svc.container_name
                else {f"{project}-{svc.name}-1", f"{project}_{svc.name}_1"}
            )
        return out

    def by_name(self, name: str) -> Service | None:
        """The service behind a container name `docker` is given (fixed or Compose's default)."""
        found = self.deployment.by_container(name)
        if found is not None:
            return found
        for svc in self.deployment.services.values():
            if svc.container_name is None and name.rstrip("-_1").endswith(svc.name):
                return svc
        return None

    def started_by(self, cc: ComposeCall) -> set[str]:
        """Services `up` creates or starts: the named ones and what they depend on, or (none
        named) every service whose profiles are all inactive or that has no profile."""
        services = self.deployment.services
        if cc.services:
            todo, seen = list(cc.services), set()
            while todo:
                name = todo.pop()
                if name in seen or name not in services:
                    continue
                seen.add(name)
                todo += list(services[name].depends_on)
            return seen
        active = set(cc.profiles)
        return {n for n, s in services.items() if not s.profiles or active & set(s.profiles)}

    def ups(self) -> list[ComposeCall]:
        return [cc for cc in self.compose_calls() if cc.sub == "up"]


def unique(steps: list[StepRef]) -> list[StepRef]:
    """Steps in runbook order, each once."""
    return sorted(dict.fromkeys(steps), key=lambda s: (s.path, s.line))
