"""The scenario catalog: scenarios declared as data, loaded and validated into `Scenario`s.

    harness/suite/scenarios.toml               the built-in catalog (every incident of the runbook)
    runbooks/<name>.scenarios.toml       beside runbooks/<name>.md: adds scenarios for that
                                         runbook, or replaces a built-in one with the same id

A fault is named by its kind (e.g. "service-killed"; every module of `harness/faults` registers
its own, found by `discover()`) and built by `make_fault` with the scenario's parameters, which
are checked against the fault's declared `params` (and a network fault's toxic attributes)
when the file loads. Every error is one line naming the file and the line that sets the key.
`SCENARIOS` and `get()` are the built-in catalog.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.faults import discover
from harness.faults.base import Fault, defaults, make_fault
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

    def at(self, index: int, key: str | None = None, after: int | None = None) -> str:
        return f"{self.path}:{self.line(index, key, after)}"

    def line(self, index: int, key: str | None = None, after: int | None = None) -> int:
        """The line of the block's first `key =` (at or after line `after`), else the
        header's (or `after`)."""
        rows = self.block(index)
        line = after or (rows.start + 1 if rows else 1)
        if key is not None:
            for i in rows:
                if i + 1 >= line and self._sets(i, key):
                    return i + 1
        return line

    def at_fault(self, index: int, table: int, key: str) -> str:
        """Where the `table`-th fault table of a scenario sets `key` (its `kind` line when the
        key is not there, e.g. for a missing parameter)."""
        line = self.line(index, "fault")
        kinds = [i + 1 for i in self.block(index) if i + 1 >= line and self._sets(i, "kind")]
        start = kinds[table] if table < len(kinds) else line
        if key == "kind":
            return f"{self.path}:{start}"
        end = kinds[table + 1] if table + 1 < len(kinds) else None
        found = self.line(index, key, start)
        return f"{self.path}:{found if end is None or found < end else start}"

    def _sets(self, i: int, key: str) -> bool:
        code = self.lines[i].split("#", 1)[0]
        return re.search(rf"(^|[\s{{,]){re.escape(key)}\s*=", code) is not None


# -- parameter checks ----------------------------------------------------------------------


def _check_fault(spec: FaultSpec, table: int, index: int, lines: _Lines) -> Fault:
    """The injector for one declared fault, its parameters checked against the kind's
    declaration; a bad one is a ScenarioError at the line that sets it."""
    cls = Fault.registry.get(spec.kind)
    if cls is None or not cls.declarable:
        raise ScenarioError(
            f"{lines.at_fault(index, table, 'kind')}: unknown fault kind {spec.kind!r}; "
            f"known: {', '.join(fault_kinds())}"
        )
    problems = cls.check_params(spec.params)
    if problems:
        key, message = problems[0]
        raise ScenarioError(f"{lines.at_fault(index, table, key)}: {message}")
    try:
        return make_fault(spec.kind, **spec.params)
    except (TypeError, ValueError) as exc:
        where = lines.at_fault(index, table, "kind")
        raise ScenarioError(f"{where}: fault {spec.kind!r}: {' '.join(str(exc).split())}") from None


def _make(specs: tuple[FaultSpec, ...]) -> Fault:
    """A fresh injector per run (the Scenario's `fault` factory)."""
    if len(specs) == 1:
        return make_fault(specs[0].kind, **specs[0].params)
    links = [make_fault(s.kind, **s.params) for s in specs]
    return Toxics(*(f for f in links if isinstance(f, LinkToxic)))


def _fault_specs(raw: Any, index: int, lines: _Lines) -> tuple[FaultSpec, ...]:
    where = lines.at(index, "fault")
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
    built = [_check_fault(s, i, index, lines) for i, s in enumerate(specs)]
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
    specs = _fault_specs(entry["fault"], index, lines)
    kwargs = _optional_fields(entry, index, lines)
    return Scenario(
        id=sid,
        title=title,
        section=section,
        fault=functools.partial(_make, specs),
        origin=here,
        faults=specs,
        **kwargs,
    )


def _optional_fields(entry: dict[str, Any], index: int, lines: _Lines) -> dict[str, Any]:
    """severity, lift, windows, stack_env, steps_from and expected, each checked."""
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
    return kwargs


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
    discover()  # every module of harness/faults registers its kind: no list of faults here
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
    """The fault kinds a scenario file may name (the registry, minus composites)."""
    return sorted(k for k, cls in Fault.registry.items() if cls.declarable)


def target_services(spec: FaultSpec) -> list[str]:
    """The compose services a declared fault acts on (for the coverage table)."""
    cls = Fault.registry.get(spec.kind)
    params = {**(defaults(cls) if cls is not None else {}), **spec.params}
    if spec.kind == "network":
        return [str(params["link"])] if "link" in params else []
    if spec.kind == "llm-provider":
        return ["llm"]
    if "service" in params:
        return [str(params["service"])]
    return ["testgen"]  # the API's own memory (cache-bloat, memory-pressure)


def parameter_table() -> str:
    """Every parameter a scenario file may set, per fault kind and toxic type, as the README's
    Markdown table (written from the declarations; a test keeps the README equal to it)."""
    from harness.faults.network import TOXIC_ATTRIBUTES

    rows = ["| fault | parameter | type | allowed | default | what it sets |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    discover()
    for kind in fault_kinds():
        cls = Fault.registry[kind]
        given = defaults(cls)
        groups = [(kind, cls.params, given)]
        if cls is LinkToxic:  # an attribute left out is 0 in Toxiproxy
            groups += [(f"network, toxic = {t}", a, {p.name: 0 for p in a})
                       for t, a in TOXIC_ATTRIBUTES.items() if a]  # fmt: skip
        for name, params, values in groups:
            for p in params:
                value = values.get(p.name)
                default = ("required" if p.required else "unset" if value is None
                           else "none" if value == () else repr(value).replace("'", '"'))
                rows.append(f"| {name} | `{p.name}` | {p.type_words} | {p.allowed or 'any'} | "
                            f"{default} | {p.description} |")  # fmt: skip
    return "\n".join(rows) + "\n"


SCENARIOS: dict[str, Scenario] = load_file(BUILTIN)


def get(scenario_id: str) -> Scenario:
    try:
        return SCENARIOS[scenario_id]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario_id!r}; known: {', '.join(SCENARIOS)}") from None
