"""YAML loaded with the source line of every key and item, so a finding can say where.

doc = load_yaml(text, "docker-compose.yml")
doc.data["services"]["redis"]["command"]
doc.line("services", "redis", "command")      # 1-based line of that key
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlError(ValueError):
    """The text is not YAML; `line` is 1-based when the parser knows it."""

    def __init__(self, line: int | None, message: str) -> None:
        self.line, self.message = line, message
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class YamlDoc:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int | None:
        """The line of the key (or item) at `path`, else of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`
                merged = _convert(value_node, path, {})
                for item in merged if isinstance(merged, list) else [merged]:
                    if isinstance(item, dict):
                        for k, v in item.items():
                            out.setdefault(k, v)
                continue
            key = _scalar(key_node)
            key = key if isinstance(key, str | int) else str(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if node.tag == "tag:yaml.org,2002:str":
        return node.value
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def load_yaml(text: str) -> YamlDoc:
    """One YAML document with its line map; YamlError (with the line) if it is not YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlError(line, str(exc.problem or exc).strip()) from None
    except yaml.YAMLError as exc:
        raise YamlError(None, str(exc).strip()) from None
    if node is None:
        return YamlDoc(None, {(): 1})
    lines: dict[Path_, int] = {}
    return YamlDoc(_convert(node, (), lines), lines)


def load_all_yaml(text: str) -> list[YamlDoc]:
    """Every document of a multi-document file (Kubernetes manifests)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(mark.line + 1 if mark else None, str(exc.problem or exc)) from None
    except yaml.YAMLError as exc:
        raise YamlError(None, str(exc).strip()) from None
    docs = []
    for node in nodes:
        if node is None:
            continue
        lines: dict[Path_, int] = {}
        docs.append(YamlDoc(_convert(node, (), lines), lines))
    return docs
