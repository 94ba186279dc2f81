"""What every fault injector is: inject, confirm it took, lift; and the registry by name."""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

from harness.backends.base import Stack
from harness.errors import HarnessError


class FaultNotTaken(HarnessError):
    """The injector could not observe its own fault: the gameday cannot test anything."""


class Fault(abc.ABC):
    """One way the TestGen stack breaks. Subclasses register themselves by `kind`."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Fault]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Fault.registry[cls.kind] = cls

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
                raise FaultNotTaken(
                    f"{self.kind}: the fault was injected but never observed within {timeout:.0f}s"
                )
            time.sleep(interval)


def make_fault(kind: str, **params: Any) -> Fault:
    try:
        cls = Fault.registry[kind]
    except KeyError:
        raise KeyError(
            f"unknown fault {kind!r}; known: {', '.join(sorted(Fault.registry))}"
        ) from None
    return cls(**params)
