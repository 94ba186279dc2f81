"""The local backend: the TestGen stack as real processes on loopback (the default)."""

from harness.backends.local.python_services import preload_run
from harness.backends.local.stack import LocalStack

__all__ = ["LocalStack", "preload_run"]
