"""The toxic registry: Toxiproxy type name -> toxic class. Adding a toxic touches one file
(its module) and one line here."""

from __future__ import annotations

from .bandwidth import Bandwidth
from .base import BadAttributes, Chunk, Emit, Link, Toxic, ToxicContext
from .latency import Latency
from .limit_data import LimitData
from .noop import Noop
from .reset_peer import ResetPeer
from .slicer import Slicer
from .slow_close import SlowClose
from .timeout import Timeout

TOXICS: dict[str, type[Toxic]] = {
    toxic.type_name: toxic
    for toxic in (Noop, Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
}

__all__ = ["TOXICS", "BadAttributes", "Chunk", "Emit", "Link", "Toxic", "ToxicContext"]
