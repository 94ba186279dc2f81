"""What a fault's parameters are: declared once on each injector, checked when a scenario
file loads, and listed in the README's table.

    class PortConflict(Fault):
        params = (
            Param("port", int, "the published port taken by another process", minimum=1,
                  maximum=65535),
        )

A scenario's fault table is checked against the declaration of its kind (and, for a network
fault, of its toxic type): an unknown name, a value of the wrong type, one out of range or
not among the choices is a `ParamProblem` naming the key, so the catalog can point at the
line that sets it. Defaults are the injector's own (its `__init__`), not repeated here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class Param:
    """One parameter a scenario may set on a fault."""

    name: str
    kind: type  # str, int, float, bool, or list (of `item`)
    description: str  # one line, for errors and the README
    unit: str = ""  # "ms", "KB/s", "MiB", "s", "share of the limit"…
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a regular expression a string must match in full
    required: bool = False
    item: type = str  # the type of a list's items

    @property
    def type_words(self) -> str:
        if self.kind is list:
            return f"a list of {_TYPE_WORDS[self.item].removeprefix('a ').removeprefix('an ')}s"
        return _TYPE_WORDS[self.kind]

    @property
    def allowed(self) -> str:
        """The allowed values in words ("1 to 65535", "one of ok, hang", "")."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        unit = f" {self.unit}" if self.unit and not self.unit.startswith("share") else ""
        low, high = _number(self.minimum), _number(self.maximum)
        if low is not None and high is not None:
            return f"{low} to {high}{unit}"
        if low is not None:
            return f"at least {low}{unit}"
        if high is not None:
            return f"at most {high}{unit}"
        return f"a name matching {self.pattern}" if self.pattern else ""

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit this parameter, in words; None when it does."""
        values = value if self.kind is list and isinstance(value, list) else [value]
        if not _fits(value, self.kind, self.item):
            return f"{self.name} must be {self.type_words}, not {value!r}"
        for v in values:
            if self.choices and v not in self.choices:
                return f"{self.name} must be {self.allowed}, not {v!r}"
            if self.pattern and not re.fullmatch(self.pattern, v):
                return f"{self.name} must be {self.allowed}, not {v!r}"
            if isinstance(v, int | float) and not (
                (self.minimum is None or v >= self.minimum)
                and (self.maximum is None or v <= self.maximum)
            ):
                return f"{self.name} must be {self.allowed}, not {v!r}"
        return None


class ParamProblem(NamedTuple):
    key: str  # the parameter the problem is about (where the catalog points)
    message: str


def check(declared: Iterable[Param], given: Mapping[str, Any], what: str) -> list[ParamProblem]:
    """Every problem of `given` against `declared`; `what` names the owner ("fault 'network'")."""
    by_name = {p.name: p for p in declared}
    problems = []
    for key, value in given.items():
        param = by_name.get(key)
        if param is None:
            close = difflib.get_close_matches(key, by_name, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            takes = ", ".join(by_name) or "nothing"
            problems.append(
                ParamProblem(key, f"{what} has no parameter {key!r}{hint}; it takes: {takes}")
            )
        elif (why := param.problem(value)) is not None:
            problems.append(ParamProblem(key, f"{what}: {why}"))
    missing = [p.name for p in declared if p.required and p.name not in given]
    if missing:
        problems.append(ParamProblem("kind", f"{what} needs {', '.join(missing)}"))
    return problems


def _fits(value: Any, kind: type, item: type) -> bool:
    if kind is list:
        return isinstance(value, list) and all(_fits(v, item, str) for v in value)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:g}" if isinstance(value, float) else f"{value}"


# Compose service names, and environment variable names.
SERVICE_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
