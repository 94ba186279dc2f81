"""Fault injectors: one module per fault, each registering its kind when imported.

`discover()` imports every module of this package, so a new fault is one new module here
(a `Fault` subclass with a `kind` and its `params`) and no line anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.faults.base import Fault


def discover() -> dict[str, type[Fault]]:
    """Every fault kind of the package's modules (imported once; later calls are cheap)."""
    for module in pkgutil.iter_modules(__path__, f"{__name__}."):
        importlib.import_module(module.name)
    return dict(Fault.registry)
