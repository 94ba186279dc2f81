"""The shared Stack contract suite (tests/backends/test_stack_contract.py), run on the fake
backend: the same test functions, with this directory's `stack` and `backend` fixtures."""

from tests.backends.test_stack_contract import *  # noqa: F403
