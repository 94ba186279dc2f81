"""Reading compose files as Compose does: YAML with its merge tags, a fenced file as a person
reads it, `${VAR:-default}` interpolation and `.env`, and the override merge of
`docker compose -f deployment.yml -f chaos.yml` into one project.

    deployment compose ──┐
                         ├── merge_project() ──▶ one project (before interpolation)
    chaos layer ─────────┘

The rules are Compose's (compose-spec, "Merge and override"):

| what | rule |
|---|---|
| mappings (a service, `deploy`, `healthcheck`, `volumes:` at top) | merged key by key |
| scalars (`image`, `restart`, `mem_limit`, ...) | the override's value wins |
| `command`, `entrypoint`, `healthcheck.test` | replaced as a whole (a shell command) |
| `environment`, `labels` (list or mapping form) | merged by variable name |
| `ports` | merged by container (target) port |
| `volumes` of a service | merged by target path |
| `depends_on` | merged by service name |
| other sequences (`profiles`, `dns`, ...) | appended, without duplicates |
| `!reset` | removes the key; `!override` replaces the value without merging |
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ComposeError

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
REPLACED = frozenset({"command", "entrypoint"})
BY_KEY = frozenset({"environment", "labels", "extra_hosts", "sysctls"})


class Reset:
    """`!reset`: the override removes the key."""

    def __repr__(self) -> str:
        return "!reset"


class Override:
    """`!override VALUE`: the override replaces the value instead of merging it."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _Loader(yaml.SafeLoader):
    """Safe YAML plus Compose's two merge tags."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    del loader, node
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def load_yaml(text: str, where: str) -> Any:
    """YAML as Compose reads it (with `!reset` and `!override`); ComposeError names the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise ComposeError(where, f"{line}not valid YAML") from None


# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR, and $$ as an escape.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>\{[^}]*\}?))"
)


def parse_dotenv(text: str) -> dict[str, str]:
    """Compose's `.env` syntax: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def interpolate(text: str, env: Mapping[str, str], where: str) -> tuple[str, list[str]]:
    """Substitute variables as Compose does; returns the value and warnings for unset ones."""
    warnings: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            raise ComposeError(where, f"invalid interpolation format {m.group(0)!r}")
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return interpolate(arg, env, where)[0]
            return value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise ComposeError(where, f"required variable {name} is missing a value: {arg}")
            return value
        if value is None:
            warnings.append(f'The "{name}" variable is not set. Defaulting to a blank string.')
            return ""
        return value

    return _VAR.sub(substitute, text), warnings


def merge_project(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """The project Compose builds from `-f base -f override` (neither input is changed)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "services" and isinstance(value, dict):
            services = merged.setdefault("services", {}) or {}
            merged["services"] = services
            for name, spec in value.items():
                if isinstance(spec, Reset):
                    services.pop(name, None)
                elif name in services and isinstance(spec, dict):
                    services[name] = merge_service(services[name] or {}, spec)
                else:
                    services[name] = strip_tags(spec)
        else:
            _merge_key(merged, key, value, _merge_mapping)
    return merged


def merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """One service's declaration with an override applied, by Compose's rules."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Reset | Override) or key not in merged:
            _merge_key(merged, key, value, _merge_mapping)
        elif key in REPLACED:
            merged[key] = strip_tags(value)
        elif key in BY_KEY:
            merged[key] = {**as_mapping(merged[key]), **as_mapping(value)}
        elif key == "ports":
            merged[key] = _by(merged[key], value, port_target)
        elif key == "volumes":
            merged[key] = _by(merged[key], value, volume_target)
        elif key == "depends_on":
            merged[key] = _depends_on(merged[key], value)
        elif key == "healthcheck" and isinstance(value, dict):
            merged[key] = {**(merged[key] or {}), **strip_tags(value)}  # test replaced whole
        else:
            _merge_key(merged, key, value, _merge_mapping)
    return merged


def _merge_key(target: dict[str, Any], key: str, value: Any, merge: Any) -> None:
    if isinstance(value, Reset):
        target.pop(key, None)
    elif isinstance(value, Override):
        target[key] = strip_tags(value.value)
    elif key in target:
        target[key] = merge(target[key], value)
    else:
        target[key] = strip_tags(value)


def _merge_mapping(old: Any, new: Any) -> Any:
    """Mappings merge recursively, sequences append (no duplicates), scalars are replaced."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, value in new.items():
            _merge_key(out, key, value, _merge_mapping)
        return out
    if isinstance(old, list) and isinstance(new, list):
        out_list = list(old)
        out_list.extend(v for v in strip_tags(new) if v not in out_list)
        return out_list
    return strip_tags(new)


def strip_tags(value: Any) -> Any:
    """A value with `!override` unwrapped and `!reset` entries dropped (nothing to merge with)."""
    if isinstance(value, Override):
        return strip_tags(value.value)
    if isinstance(value, dict):
        return {k: strip_tags(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip_tags(v) for v in value if not isinstance(v, Reset)]
    return value


def as_mapping(value: Any) -> dict[str, Any]:
    """`environment`/`labels` in list form (`K=V`, or bare `K`) or mapping form, as a mapping.
    A bare `K` in list form keeps None: Compose then takes K from the operator's shell."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def port_target(entry: Any) -> str:
    """The container port a `ports:` entry publishes (`"8000:8000"`, `"127.0.0.1:80:8080/tcp"`,
    or the long form's `target`)."""
    if isinstance(entry, dict):
        return str(entry.get("target"))
    return str(entry).rsplit(":", 1)[-1].split("/", 1)[0]


def volume_target(entry: Any) -> str:
    """The path a `volumes:` entry mounts at (`src:/target[:ro]`, or the long form's `target`)."""
    if isinstance(entry, dict):
        return str(entry.get("target"))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _by(old: list[Any], new: list[Any], key: Any) -> list[Any]:
    merged = {key(e): e for e in old or []}
    for entry in strip_tags(new) or []:
        merged[key(entry)] = entry
    return list(merged.values())


def _depends_on(old: Any, new: Any) -> Any:
    if isinstance(old, list) and isinstance(new, list):
        return list(dict.fromkeys([*old, *strip_tags(new)]))
    started = {"condition": "service_started"}
    base = old if isinstance(old, dict) else {name: dict(started) for name in old or []}
    extra = new if isinstance(new, dict) else {name: dict(started) for name in new or []}
    return {**base, **strip_tags(extra)}


def roles_of(project: dict[str, Any], where: str) -> dict[str, str]:
    """`x-roles`: which service plays each role the scenario catalog and the probe name
    (`testgen`, `redis`, `postgres`) in a deployment that renamed them. Only the harness's own
    parts read it; the runbook's commands meet the deployment's names as they are."""
    roles = project.get("x-roles") or {}
    if not isinstance(roles, dict):
        raise ComposeError(where, "'x-roles' must map a role to a service")
    for role, service in roles.items():
        if service not in (project.get("services") or {}):
            raise ComposeError(where, f"x-roles: {role}: no service {service!r}")
    return {str(k): str(v) for k, v in roles.items()}


def line_of(text: str, pattern: str) -> int | None:
    """The first 1-based line of `text` matching the regex `pattern` (for findings that name
    the deployment's file and line)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return number
    return None


def read_yaml(path: Path, what: str) -> Any:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(where, f"no such {what}") from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise ComposeError(where, f"cannot read {what}: {exc}") from None
    return load_yaml(strip_fence(text), where)


def strip_fence(text: str) -> str:
    """A file wrapped in a Markdown code fence is read as a person would after removing the
    fence lines (the drift report names the fence itself as a finding). Lines are kept
    (blanked), so line numbers stay the file's own."""
    lines = text.split("\n")
    if lines and lines[0].lstrip().startswith("```"):
        lines[0] = ""
        for i in range(len(lines) - 1, 0, -1):
            if lines[i].strip().startswith("```"):
                lines[i] = ""
                break
    return "\n".join(lines)


def deployment_compose(directory: Path) -> Path:
    if not directory.is_dir():
        raise ComposeError(str(directory), "no such deployment directory")
    for name in COMPOSE_NAMES:
        if (directory / name).exists():
            return directory / name
    raise ComposeError(
        str(directory), f"no compose file in the deployment ({', '.join(COMPOSE_NAMES)})"
    )
