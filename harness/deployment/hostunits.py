"""What a deployment runs outside Compose: systemd units and Kubernetes manifests.

`systemctl status NAME` needs a `NAME.service` unit; `kubectl get pods -n NS` needs
manifests that create NS (or objects in it). A deployment dir without any has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.deployment.source import SourceFile
from harness.deployment.yamllines import YamlError, load_all_yaml


@dataclass(frozen=True)
class Unit:
    name: str  # "testgen-copilot" for testgen-copilot.service
    shown: str
    line: int


@dataclass(frozen=True)
class KubeObject:
    kind: str
    name: str
    namespace: str | None
    shown: str
    line: int


@dataclass
class Manifests:
    objects: list[KubeObject] = field(default_factory=list)
    errors: list[tuple[str, int | None, str]] = field(default_factory=list)  # file, line, why

    @property
    def namespaces(self) -> set[str]:
        named = {o.name for o in self.objects if o.kind == "Namespace"}
        return named | {o.namespace for o in self.objects if o.namespace}


def unit_from(source: SourceFile) -> Unit | None:
    name = source.path.name
    if not name.endswith(".service"):
        return None
    return Unit(name.removesuffix(".service"), source.shown, 1)


def read_manifests(sources: list[SourceFile]) -> Manifests:
    """Kubernetes objects (documents with `apiVersion` and `kind`) in YAML files."""
    out = Manifests()
    for source in sources:
        try:
            docs = load_all_yaml(source.text)
        except YamlError as exc:
            out.errors.append((source.shown, exc.line, f"not valid YAML: {exc.message}"))
            continue
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
                continue
            meta = data.get("metadata") or {}
            out.objects.append(
                KubeObject(
                    str(data["kind"]),
                    str(meta.get("name", "")),
                    str(meta["namespace"]) if meta.get("namespace") else None,
                    source.shown,
                    doc.line() or 1,
                )
            )
    return out
