"""What every toxic is: a few integer settings, plus how it moves one chunk of one stream.

A toxic object holds only its settings and is shared by every connection of its proxy.
What one connection needs to remember (bytes sent so far, a timer) lives in the
`ToxicContext` that the data path hands to each call, as Toxiproxy's `ToxicStub` does.

    chunk ──▶ toxic.pipe(chunk, ctx, emit) ──emit(bytes)──▶ next toxic … ──▶ peer socket
    end   ──▶ toxic.end(ctx)               ──────────────▶ next toxic … ──▶ close peer
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, NamedTuple, Protocol

# Go's int64, which Toxiproxy decodes attributes into.
_MAX_ATTRIBUTE = 2**63 - 1

Emit = Callable[[bytes], Awaitable[None]]


class BadAttributes(ValueError):
    """A toxic attribute has the wrong type or range; the API answers 400."""


class Chunk(NamedTuple):
    data: bytes
    arrival: float  # the event loop's clock when the proxy read these bytes


class Link(Protocol):
    """The part of one stream of one connection that a toxic may act on."""

    @property
    def closed(self) -> bool: ...

    def close(self) -> None:
        """Close the connection gracefully (FIN) once what was emitted is flushed."""

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0)."""


class ToxicContext:
    """One toxic applied to one stream of one connection: its state and its timers."""

    def __init__(self, link: Link, state: Any) -> None:
        self.link = link
        self.state = state
        self.active = True  # False once the toxic is removed or replaced on this link
        self._timers: list[asyncio.TimerHandle] = []

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `seconds` unless the toxic is removed first."""
        self._timers.append(asyncio.get_running_loop().call_later(seconds, callback))

    def close(self) -> None:
        self.link.close()

    def reset(self) -> None:
        self.link.reset()

    def deactivate(self) -> None:
        self.active = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()


class Toxic:
    """Base of every toxic type: validated integer attributes and pass-through behaviour.

    A subclass sets `type_name` and `fields` (its attribute names, each a non-negative
    integer defaulting to 0), declares them as `int` class annotations, and overrides
    the hooks it needs.
    """

    type_name: ClassVar[str] = ""
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, attributes: Mapping[str, object] | None = None) -> None:
        values = dict.fromkeys(self.fields, 0)
        for key, value in (attributes or {}).items():
            # Unknown keys are ignored, as Go's JSON decoder does for Toxiproxy.
            if key in values and value is not None:
                values[key] = _as_attribute(self.type_name, key, value)
        for key, number in values.items():
            setattr(self, key, number)
        self.validate()

    def validate(self) -> None:
        """Raise `BadAttributes` when the settings together make no sense."""

    def attributes(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.fields}

    def updated(self, attributes: Mapping[str, object]) -> Toxic:
        """A new toxic of this type with `attributes` laid over the current ones."""
        return type(self)({**self.attributes(), **attributes})

    def new_state(self) -> Any:
        """Per-connection state, created when the toxic first meets a connection."""
        return None

    def start(self, ctx: ToxicContext) -> None:
        """The toxic begins to apply to a stream (time-based toxics arm timers here)."""

    def stop(self, ctx: ToxicContext, removed: bool) -> None:
        """The toxic stops applying: `removed` from the proxy, or replaced by an update."""

    async def pipe(self, chunk: Chunk, ctx: ToxicContext, emit: Emit) -> None:
        """Move one chunk on: call `emit` zero or more times, possibly after waiting."""
        await emit(chunk.data)

    async def end(self, ctx: ToxicContext) -> None:
        """The stream's source has closed; return when the close may travel on."""


def _as_attribute(type_name: str, key: str, value: object) -> int:
    # A JSON number with a fraction or exponent (`100.0`, `1e2`) is a float here, and Go's
    # decoder refuses it for Toxiproxy's int64 fields: so do we, with 400.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadAttributes(f"{type_name}.{key} must be an integer, got {value!r}")
    if not 0 <= value <= _MAX_ATTRIBUTE:
        raise BadAttributes(f"{type_name}.{key} must be between 0 and {_MAX_ATTRIBUTE}")
    return value
