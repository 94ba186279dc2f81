"""What every fault injector is: its declared parameters, inject, confirm it took (by the
effect its parameters ask for), lift; and the registry by name."""

from __future__ import annotations

import abc
import inspect
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from harness.backends.base import Stack
from harness.errors import HarnessError
from harness.faults.params import Param, ParamProblem, check


class FaultNotTaken(HarnessError):
    """The injector could not observe its own fault: the gameday cannot test anything."""


class Fault(abc.ABC):
    """One way the TestGen stack breaks. Subclasses register themselves by `kind` and declare
    the parameters a scenario file may set (`params`, one per `__init__` parameter)."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Fault]]] = {}
    params: ClassVar[tuple[Param, ...]] = ()
    # False for a composite a scenario file cannot name (several link faults at once).
    declarable: ClassVar[bool] = True

    # What the last confirmation measured when it fell short of what the parameters ask
    # ("round trip +2 ms, asked +400 ms"): the reason of an `aborted` gameday.
    shortfall: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            if cls.declarable:
                _check_declared(cls)
            Fault.registry[cls.kind] = cls

    @classmethod
    def parameters(cls, given: Mapping[str, Any]) -> tuple[Param, ...]:
        """The parameters this fault takes, given those set (a network fault's attributes
        depend on its toxic type)."""
        return cls.params

    @classmethod
    def check_params(cls, given: Mapping[str, Any]) -> list[ParamProblem]:
        """Every problem of a scenario's parameters for this fault, before anything starts."""
        return check(cls.parameters(given), given, f"fault {cls.kind!r}")

    @abc.abstractmethod
    def inject(self, stack: Stack) -> None:
        """Break the stack."""

    @abc.abstractmethod
    def confirm(self, stack: Stack) -> str | None:
        """Evidence that the fault took (e.g. "testgen-copilot Exited (137)"), or None yet."""

    def lift(self, stack: Stack) -> None:
        """Remove the fault's external cause, where the real world would."""

    # Whether the fault *is* the incident (memory held, a port squatted, a poisoned cache, a
    # degraded link): then "recovered" needs it gone. An external cause the runbook is meant
    # to route around (an exhausted provider quota) may persist; it is reported, not required gone.
    is_incident: ClassVar[bool] = True

    def still_in_effect(self, stack: Stack) -> str | None:
        """Evidence that the fault is in effect now, or None when it is gone.

        Raises NotImplementedError where the injector cannot tell; the verdict then names the
        fault check among what it did not check."""
        raise NotImplementedError

    def symptom_stopped(self, stack: Stack) -> str | None:
        """Evidence that the incident's symptom stopped by itself since the fault was confirmed
        (nothing left for a detection step to see), or None. Asked only when no detection step
        saw the fault: the runbook is not blamed for missing an incident that went away."""
        return None

    def diagnose(self, stack: Stack) -> str | None:
        """What of the fault is still there, in words, for a not-recovered verdict."""
        return None

    def cleanup(self, stack: Stack) -> None:
        """Remove what the injector itself left (e.g. a port squatter), whatever happened."""

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """The root cause, in words for the post-incident review."""

    def wait_confirmed(self, stack: Stack, timeout: float = 30.0, interval: float = 0.05) -> str:
        deadline = time.monotonic() + timeout
        while True:
            evidence = self.confirm(stack)
            if evidence:
                return evidence
            if time.monotonic() >= deadline:
                measured = self.shortfall or f"{self.kind} injected but never observed"
                raise FaultNotTaken(f"fault not in effect: {measured} (within {timeout:.0f} s)")
            time.sleep(interval)


def _check_declared(cls: type[Fault]) -> None:
    """A registered fault declares exactly its `__init__`'s named parameters: the schema the
    catalog checks and the README lists cannot drift from what the injector takes."""
    taken = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    declared = [p.name for p in cls.params]
    if sorted(taken) != sorted(declared):
        raise TypeError(
            f"fault {cls.kind!r}: params declares {declared or 'nothing'} but __init__ takes "
            f"{taken or 'nothing'}"
        )


def defaults(cls: type[Fault]) -> dict[str, Any]:
    """The injector's default for each parameter that has one."""
    return {
        p.name: p.default
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.default is not p.empty
    }


def make_fault(kind: str, **params: Any) -> Fault:
    try:
        cls = Fault.registry[kind]
    except KeyError:
        raise KeyError(
            f"unknown fault {kind!r}; known: {', '.join(sorted(Fault.registry))}"
        ) from None
    return cls(**params)
