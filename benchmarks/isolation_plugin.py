"""pytest plugin (`-p isolation_plugin`, benchmarks/ on PYTHONPATH): logs every local stack.

For each LocalStack it appends one JSON line to $GAMEDAY_BENCH_STACKLOG: the pytest
worker, the stack id, its temp dir, every loopback port it was given, and when it was
constructed and closed (wall clock, comparable across workers). `suite_bench` reads the
log to prove that stacks alive at the same time under `-n 2` never shared a port or a dir.
Cost: one small file append per stack, nothing per step.
"""

from __future__ import annotations

import json
import os
import time

from harness.backends.local import stack as local_stack

_LOG = os.environ.get("GAMEDAY_BENCH_STACKLOG")
_orig_init = local_stack.LocalStack.__init__
_orig_close = local_stack.LocalStack.close


def _write(record: dict[str, object]) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(json.dumps(record) + "\n")


def _init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _orig_init(self, *args, **kwargs)
    self._bench_born = time.time()


def _close(self):  # type: ignore[no-untyped-def]
    first = not self._closed
    try:
        _orig_close(self)
    finally:
        if first:
            _write(
                {
                    "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                    "pid": os.getpid(),
                    "stack": self.id,
                    "dir": str(self.dir),
                    "ports": sorted(self._ports.values()),
                    "born": getattr(self, "_bench_born", None),
                    "closed": time.time(),
                }
            )


local_stack.LocalStack.__init__ = _init  # type: ignore[method-assign]
local_stack.LocalStack.close = _close  # type: ignore[method-assign]
