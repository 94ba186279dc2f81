"""Registers the local backend (imported by discovery; the stack loads only when used)."""

from harness.backends import register_backend

register_backend("local", "harness.backends.local:LocalStack", auto_rank=1)
