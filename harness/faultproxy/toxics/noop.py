"""noop: let everything through untouched (Toxiproxy has it; a client may add one to check
that toxics can be added at all, or to hold a name)."""

from __future__ import annotations

from .base import Toxic


class Noop(Toxic):
    type_name = "noop"
