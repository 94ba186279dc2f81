"""Stack backends, each one package here that registers itself in its `backend.py`:

    register_backend("local", "harness.backends.local:LocalStack", auto_rank=1)

`local` (processes, the default), `docker` (Testcontainers) and `fake` (in memory, for
testing the runner; only when named). Discovery imports each package's `backend.py` (or a
plain module of this package's `__path__`, as a plugin directory would add), never the
stack itself: a backend's own imports (the docker SDK, the fake's servers) load only when
that backend is used.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.base import Stack
from harness.compose import ComposeFile
from harness.errors import OptionError

StackClass = Callable[..., Stack]  # (compose, shell_env=..., env_example=...) -> Stack
Problem = Callable[[ComposeFile | None], "str | None"]  # why it cannot run here, or None


@dataclass(frozen=True)
class Backend:
    name: str
    stack: str | StackClass  # "module:Class", imported only when the backend is used
    problem: Problem | None = None
    auto_rank: int | None = None  # `auto` tries the highest rank first; None: only by name
    auto_reason: str = ""  # why `auto` picks it when it is the first choice and can run


_BACKENDS: dict[str, Backend] = {}
_discovered = False


def register_backend(
    name: str,
    stack_class: str | StackClass,
    *,
    problem: Problem | None = None,
    auto_rank: int | None = None,
    auto_reason: str = "",
) -> None:
    """A new backend: a `Stack` implementation by name (chosen only when named unless it
    has an `auto_rank`)."""
    _BACKENDS[name] = Backend(name, stack_class, problem, auto_rank, auto_reason)


def unregister_backend(name: str) -> None:
    _BACKENDS.pop(name, None)


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module(__name__)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name == "base":
            continue
        target = f"{__name__}.{module.name}" + (".backend" if module.ispkg else "")
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name != target:  # a package without backend.py is not a backend
                raise


def backends() -> dict[str, Backend]:
    """Every registered backend, after importing each package's `backend.py` once."""
    _discover()
    return dict(_BACKENDS)


def backend_names() -> tuple[str, ...]:
    """The `--backend` choices: `auto`, then every registered backend."""
    return ("auto", *backends())


def __getattr__(name: str) -> Any:
    if name == "BACKENDS":  # read at use, so a backend registered later is a choice too
        return backend_names()
    if name == "REGISTRY":  # name -> its stack ("module:Class" until first used)
        return {n: b.stack for n, b in backends().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_problem(name: str, compose: ComposeFile | None = None) -> str | None:
    """Why the named backend cannot run here, or None."""
    backend = backends().get(name)
    if backend is None:
        return f"unknown backend {name!r}"
    return backend.problem(compose) if backend.problem is not None else None


def docker_problem(compose: ComposeFile | None = None) -> str | None:
    """Why the docker backend cannot run here (no engine, images not built), or None."""
    return backend_problem("docker", compose)


def choose_backend(name: str | None, compose: ComposeFile | None = None) -> str:
    return select_backend(name, compose)[0]


def select_backend(name: str | None, compose: ComposeFile | None = None) -> tuple[str, str]:
    """(backend, why). `auto` (the default) is the highest-ranked backend that can run here
    (docker when an engine answers and has the stack's images, local otherwise); an
    explicit backend that cannot run is bad input."""
    name = name or os.environ.get("GAMEDAY_BACKEND") or "auto"
    known = backends()
    if name != "auto":
        if name not in known:
            names = ", ".join(backend_names())
            raise OptionError(f"--backend must be one of {names}, not {name!r}")
        problem = backend_problem(name, compose)
        if problem:
            raise OptionError(f"--backend {name}: {problem}")
        return name, "chosen"
    ranked = sorted(
        (b for b in known.values() if b.auto_rank is not None), key=lambda b: -(b.auto_rank or 0)
    )
    skipped: list[str] = []
    for backend in ranked:
        problem = backend_problem(backend.name, compose)
        if problem is None:
            why = "; ".join(skipped) or backend.auto_reason or f"{backend.name} can run here"
            return backend.name, f"auto: {why}"
        skipped.append(problem)
    raise OptionError(f"--backend auto: no backend can run here ({'; '.join(skipped)})")


def make_stack(
    backend: str,
    compose: ComposeFile,
    shell_env: Mapping[str, str],
    env_example: Path | None = None,
) -> Stack:
    entry = backends().get(backend)
    if entry is None:
        raise OptionError(f"unknown backend {backend!r}")
    stack_class = entry.stack
    if isinstance(stack_class, str):
        module, _, name = stack_class.partition(":")
        try:
            stack_class = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise OptionError(f"the {backend} backend is not available: {exc}") from None
    assert callable(stack_class)
    return stack_class(compose, shell_env=shell_env, env_example=env_example)
