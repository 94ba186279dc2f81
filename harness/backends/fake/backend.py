"""Registers the fake backend: chosen only by name (`auto` never picks it)."""

from harness.backends import register_backend

register_backend("fake", "harness.backends.fake:FakeStack")
