"""Test-only instrumentation for `gameday` subprocesses (tests/trust), off unless asked:

GAMEDAY_TRUST_SPAWN_LOG=FILE   append the argv of every subprocess the process starts to FILE
                               (bad input must start nothing)
GAMEDAY_TRUST_NO_REDACT=1      make harness.redact.Redactor the identity (proves the secrets
                               test fails when redaction is gone)
"""

from __future__ import annotations

import os
import subprocess

_spawn_log = os.environ.get("GAMEDAY_TRUST_SPAWN_LOG")
if _spawn_log:
    _popen_init = subprocess.Popen.__init__

    def _logged_init(self, args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        with open(_spawn_log, "a") as log:
            log.write(f"{args!r}\n")
        _popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = _logged_init  # type: ignore[method-assign]

if os.environ.get("GAMEDAY_TRUST_NO_REDACT") == "1":
    import harness.redact

    harness.redact.Redactor.__call__ = lambda self, text: text  # type: ignore[method-assign]
