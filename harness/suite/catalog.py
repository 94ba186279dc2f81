"""The scenario catalog: scenarios declared as data, loaded and validated into `Scenario`s.

    harness/suite/scenarios.toml               the built-in catalog (every incident of the runbook)
    runbooks/<name>.scenarios.toml       beside runbooks/<name>.md: adds scenarios for that
                                         runbook, or replaces a built-in one with the same id

A fault is named by its registry name (`Fault.registry`, e.g. "service-killed") and built by
`make_fault` with the declared parameters, which are checked against the injector's own
signature when the file loads. Every error is one line naming the file and line.
`SCENARIOS` and `get()` are the built-in catalog, as before.
"""

from __future__ import annotations

import functools
import inspect
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# Each injector module registers its kind in Fault.registry when imported.
from harness.faults import (  # noqa: F401
    cache_bloat,
    llm_provider,
    memory_pressure,
    missing_variable,
    port_conflict,
    process_crash,
    service_killed,
)
from harness.faults.base import Fault, make_fault
from harness.faults.network import LinkToxic, Toxics
from harness.run.scenario import LIFTS, FaultSpec, Scenario, ScenarioError

BUILTIN = Path(__file__).with_name("scenarios.toml")
SIDECAR_SUFFIX = ".scenarios.toml"
MAX_FILE_BYTES = 1 << 20  # a catalog is a few kB; refuse anything that is not one
MAX_WINDOW_S = 3600.0

ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIELDS = (
    "id", "title", "section", "fault", "severity", "lift", "detect_window_s",
    "verify_window_s", "hold_s", "stack_env", "steps_from", "expected",
)  # fmt: skip
VERDICTS = (
    "recovered", "recovered-after-lift", "slow", "not-recovered", "undetected", "aborted",
    "data-loss",
)  # fmt: skip


def _choices() -> dict[tuple[str, str], tuple[str, ...]]:
    """Parameter values the injectors accept, where the set is closed."""
    from harness.faultproxy.toxics import TOXICS
    from harness.services.contract import MODES, PROVIDERS

    hosted = tuple(p for p in PROVIDERS if p != "ollama")
    return {
        ("llm-provider", "provider"): hosted,
        ("llm-provider", "also"): hosted,
        ("llm-provider", "mode"): tuple(MODES),
        ("network", "toxic"): (*TOXICS, "cut"),
        ("network", "stream"): ("upstream", "downstream"),
    }


# -- where in the file -------------------------------------------------------------------


def _shown(path: Path) -> str:
    """A path as errors and listings show it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parents[2]))
    except ValueError:
        return str(path)


class _Lines:
    """Line numbers for a parsed TOML file (tomllib gives none): the n-th `[[scenario]]`
    header, and the first line of that block that sets a given key."""

    HEADER = re.compile(r"^\s*\[\[\s*scenario\s*\]\]")

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = _shown(path), text.splitlines()
        self.starts = [i for i, line in enumerate(self.lines) if self.HEADER.match(line)]

    def block(self, index: int) -> range:
        if index >= len(self.starts):
            return range(0)
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        return range(self.starts[index], end)

    def at(self, index: int, key: str | None = None) -> str:
        rows = self.block(index)
        line = rows.start + 1 if rows else 1
        if key is not None:
            pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
            for i in rows:
                if pattern.search(self.lines[i].split("#", 1)[0]):
                    line = i + 1
                    break
        return f"{self.path}:{line}"


# -- parameter checks ----------------------------------------------------------------------


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "nothing"
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(hint) if a is not type(None))
    if origin is not None:
        (item, *_rest) = typing.get_args(hint) or (Any,)
        return f"a list of {_type_name(item)}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _fits(value: Any, hint: Any) -> bool:
    """Does a TOML value fit a parameter's annotation (the few types injectors take)?"""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, a) for a in typing.get_args(hint))
    if origin in (list, tuple, Sequence, typing.Sequence):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis] or [Any]
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _build_fault(spec: FaultSpec, where: str) -> Fault:
    """The injector for one declared fault; a bad kind or parameter is a ScenarioError."""
    cls = Fault.registry.get(spec.kind)
    if cls is None or spec.kind == "network-multi":
        known = ", ".join(sorted(k for k in Fault.registry if k != "network-multi"))
        raise ScenarioError(f"{where}: unknown fault kind {spec.kind!r}; known: {known}")
    signature = inspect.signature(cls.__init__)
    hints = typing.get_type_hints(cls.__init__)
    named = [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    extra = next(
        (p for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None
    )
    choices = _choices()
    for name, value in spec.params.items():
        if name not in named and extra is None:
            raise ScenarioError(
                f"{where}: fault {spec.kind!r} has no parameter {name!r}; "
                f"it takes: {', '.join(named)}"
            )
        hint = hints.get(name if name in named else extra.name if extra else name, Any)
        if not _fits(value, hint):
            raise ScenarioError(
                f"{where}: fault {spec.kind!r}: {name} must be {_type_name(hint)}, not {value!r}"
            )
        allowed = choices.get((spec.kind, name))
        values = value if isinstance(value, list) else [value]
        if allowed is not None and any(v not in allowed for v in values):
            raise ScenarioError(
                f"{where}: fault {spec.kind!r}: {name} must be one of {', '.join(allowed)}, "
                f"not {value!r}"
            )
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.default is p.empty and p.kind is not p.VAR_KEYWORD
        and p.name not in spec.params
    ]
    if missing:
        raise ScenarioError(f"{where}: fault {spec.kind!r} needs {', '.join(missing)}")
    try:
        return make_fault(spec.kind, **spec.params)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: fault {spec.kind!r}: {' '.join(str(exc).split())}") from None


def _make(specs: tuple[FaultSpec, ...]) -> Fault:
    """A fresh injector per run (the Scenario's `fault` factory)."""
    if len(specs) == 1:
        return make_fault(specs[0].kind, **specs[0].params)
    links = [make_fault(s.kind, **s.params) for s in specs]
    return Toxics(*(f for f in links if isinstance(f, LinkToxic)))


def _fault_specs(raw: Any, where: str) -> tuple[FaultSpec, ...]:
    tables = raw if isinstance(raw, list) else [raw]
    if not tables or not all(isinstance(t, dict) for t in tables):
        raise ScenarioError(
            f'{where}: fault must be a table ({{ kind = "service-killed", service = "testgen" }})'
            " or an array of them"
        )
    specs = []
    for table in tables:
        params = dict(table)
        kind = params.pop("kind", None)
        if not isinstance(kind, str):
            raise ScenarioError(f"{where}: fault needs kind = \"<fault name>\"")
        specs.append(FaultSpec(kind, params))
    built = [_build_fault(s, where) for s in specs]
    if len(built) > 1 and not all(isinstance(f, LinkToxic) for f in built):
        raise ScenarioError(f"{where}: several faults at once are network faults only")
    return tuple(specs)


# -- one scenario, one file ------------------------------------------------------------------


def _string(entry: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: {key} must be a non-empty string")
    return value


def _number(entry: dict[str, Any], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: {key} must be a number of seconds, not {value!r}")
    if not 0 < value <= MAX_WINDOW_S:
        raise ScenarioError(f"{where}: {key} must be above 0 and at most {MAX_WINDOW_S:.0f} s")
    return float(value)


def _scenario(entry: Any, index: int, lines: _Lines) -> Scenario:
    here = lines.at(index)
    if not isinstance(entry, dict):
        raise ScenarioError(f"{here}: [[scenario]] must be a table")
    for key in entry:
        if key not in FIELDS:
            raise ScenarioError(
                f"{lines.at(index, key)}: unknown field {key!r}; known: {', '.join(FIELDS)}"
            )
    if "id" not in entry:
        raise ScenarioError(f"{here}: a scenario needs an id")
    sid = _string(entry, "id", lines.at(index, "id"))
    assert sid is not None
    if not ID_PATTERN.match(sid):
        raise ScenarioError(
            f"{lines.at(index, 'id')}: id {sid!r} must be lower-case words joined by '-'"
        )
    for key in ("title", "section", "fault"):
        if key not in entry:
            raise ScenarioError(f"{here}: scenario {sid!r} needs {key}")
    title = _string(entry, "title", lines.at(index, "title"))
    section = _string(entry, "section", lines.at(index, "section"))
    assert title is not None and section is not None
    specs = _fault_specs(entry["fault"], lines.at(index, "fault"))

    kwargs: dict[str, Any] = {}
    severity = entry.get("severity")
    if severity is not None:
        if isinstance(severity, bool) or severity not in (1, 2, 3, 4):
            raise ScenarioError(f"{lines.at(index, 'severity')}: severity must be 1, 2, 3 or 4")
        kwargs["severity"] = severity
    lift = entry.get("lift")
    if lift is not None:
        if lift not in LIFTS:
            raise ScenarioError(
                f"{lines.at(index, 'lift')}: lift must be one of {', '.join(LIFTS)}, not {lift!r}"
            )
        kwargs["lift"] = lift
    for key in ("detect_window_s", "verify_window_s", "hold_s"):
        value = _number(entry, key, lines.at(index, key))
        if value is not None:
            kwargs[key] = value
    env = entry.get("stack_env")
    if env is not None:
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and ENV_NAME.match(k) and isinstance(v, str) for k, v in env.items()
        ):
            raise ScenarioError(
                f"{lines.at(index, 'stack_env')}: stack_env must map variable names to strings"
            )
        kwargs["stack_env"] = dict(env)
    steps_from = entry.get("steps_from")
    if steps_from is not None:
        if not isinstance(steps_from, list) or not all(
            isinstance(s, str) and s.strip() for s in steps_from
        ):
            raise ScenarioError(
                f"{lines.at(index, 'steps_from')}: steps_from must be a list of section titles"
            )
        kwargs["steps_from"] = tuple(steps_from)
    expected = entry.get("expected")
    if expected is not None:
        if expected not in VERDICTS:
            raise ScenarioError(
                f"{lines.at(index, 'expected')}: expected must be a verdict "
                f"({', '.join(VERDICTS)}), not {expected!r}"
            )
        kwargs["expected"] = expected
    return Scenario(
        id=sid,
        title=title,
        section=section,
        fault=functools.partial(_make, specs),
        origin=here,
        faults=specs,
        **kwargs,
    )


def load_file(path: str | Path) -> dict[str, Scenario]:
    """Every scenario of one TOML file, in file order; ScenarioError (one line) if unusable."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: larger than {MAX_FILE_BYTES >> 10} KiB: not a catalog")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # "Invalid value (at line 3, column 9)" -> "file:3: invalid value (column 9)"
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            what = message[: found.start()].strip()
            raise ScenarioError(
                f"{path}:{found[1]}: not TOML: {what} (column {found[2]})"
            ) from None
        raise ScenarioError(f"{path}: not TOML: {message}") from None
    lines = _Lines(path, text)
    unknown = [k for k in data if k != "scenario"]
    if unknown:
        raise ScenarioError(
            f"{path}: unknown top-level key {unknown[0]!r}; scenarios are [[scenario]] tables"
        )
    entries = data.get("scenario", [])
    if not isinstance(entries, list):
        raise ScenarioError(f"{path}: scenarios are declared as [[scenario]] tables")
    scenarios: dict[str, Scenario] = {}
    for index, entry in enumerate(entries):
        scenario = _scenario(entry, index, lines)
        if scenario.id in scenarios:
            raise ScenarioError(
                f"{lines.at(index, 'id')}: scenario {scenario.id!r} declared twice "
                f"(first at {scenarios[scenario.id].origin})"
            )
        scenarios[scenario.id] = scenario
    return scenarios


# -- per runbook -------------------------------------------------------------------------------


def sidecar(runbook_path: str | Path) -> Path:
    """`runbooks/x.md` -> `runbooks/x.scenarios.toml` (may not exist)."""
    path = Path(runbook_path)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, size: int) -> dict[str, Scenario]:
    return load_file(path)


def _load(path: Path) -> dict[str, Scenario]:
    try:
        st = path.stat()
    except OSError:
        return load_file(path)  # raises the one-line error
    return _load_cached(str(path), st.st_mtime_ns, st.st_size)


def for_runbook(runbook_path: str | Path | None) -> dict[str, Scenario]:
    """The built-in catalog, plus (and overridden by) the runbook's own scenario file."""
    scenarios = dict(SCENARIOS)
    if runbook_path is not None:
        extra = sidecar(runbook_path)
        if extra.exists():
            scenarios.update(_load(extra))
    return scenarios


def for_runbooks(runbook_paths: Iterable[str | Path]) -> dict[str, Scenario]:
    """Every scenario any of the runbooks has; an id a runbook overrides shows its version."""
    merged: dict[str, Scenario] = dict(SCENARIOS)
    for path in runbook_paths:
        for sid, scenario in for_runbook(path).items():
            if merged.get(sid) is SCENARIOS.get(sid):
                merged[sid] = scenario
    return merged


def select(ids: Sequence[str], known: Mapping[str, Scenario]) -> list[str]:
    """The selected ids in order (all when none is named); ScenarioError for an unknown one."""
    for sid in ids:
        if sid not in known:
            raise ScenarioError(f"unknown scenario {sid!r}; known: {', '.join(sorted(known))}")
    return list(dict.fromkeys(ids)) if ids else list(known)


def check_sections(runbook: Any, scenarios: Iterable[Scenario]) -> None:
    """Every scenario's section (and `steps_from`) exists in the runbook, before anything
    starts: otherwise one line naming the runbook, the scenario and where it was declared."""
    for scenario in scenarios:
        for title in (scenario.section, *scenario.steps_from):
            try:
                runbook.section(title)
            except KeyError as exc:
                origin = f" (declared at {scenario.origin})" if scenario.origin else ""
                raise ScenarioError(
                    f"{runbook.path}: scenario {scenario.id}{origin}: {exc.args[0]}"
                ) from None


def fault_kinds() -> list[str]:
    """The fault kinds a scenario file may name (the registry, minus the composite)."""
    return sorted(k for k in Fault.registry if k != "network-multi")


def target_services(spec: FaultSpec) -> list[str]:
    """The compose services a declared fault acts on (for the coverage table)."""
    cls = Fault.registry.get(spec.kind)
    defaults = {}
    if cls is not None:
        defaults = {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.default is not p.empty
        }
    params = {**defaults, **spec.params}
    if spec.kind == "network":
        return [str(params["link"])] if "link" in params else []
    if spec.kind == "llm-provider":
        return ["llm"]
    if "service" in params:
        return [str(params["service"])]
    return ["testgen"]  # the API's own memory (cache-bloat, memory-pressure)


SCENARIOS: dict[str, Scenario] = load_file(BUILTIN)

SERVICE_DOWN = SCENARIOS["service-down"]
HIGH_ERROR_RATE = SCENARIOS["high-error-rate"]
PERFORMANCE = SCENARIOS["performance"]
MISSING_VARIABLE = SCENARIOS["wont-start-missing-variable"]
PORT_CONFLICT = SCENARIOS["wont-start-port-conflict"]
OOM = SCENARIOS["high-memory-oom"]
MEMORY_PRESSURE = SCENARIOS["high-memory-no-kill"]
LLM_QUOTA = SCENARIOS["llm-quota"]
LLM_QUOTA_ALL_HOSTED = SCENARIOS["llm-quota-all-hosted"]
DATABASE_DOWN = SCENARIOS["database-down"]
DATABASE_LINK_CUT = SCENARIOS["database-link-cut"]
DATABASE_LINK_CUT_NEVER_LIFTED = SCENARIOS["database-link-cut-never-lifted"]
REDIS_DOWN = SCENARIOS["redis-down"]


def get(scenario_id: str) -> Scenario:
    try:
        return SCENARIOS[scenario_id]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario_id!r}; known: {', '.join(SCENARIOS)}") from None
