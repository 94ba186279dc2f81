"""The lean shim (shim.c): built once per machine, where a C compiler is present.

A bridged call from the operator's bash costs a process start: ~24 ms with the `python -S`
shim (shim.py), ~1 ms with shim.c, which speaks the bridge's line protocol (server.py).
The executable is cached by the hash of its source; without a compiler, or with
GAMEDAY_SHIM=python, the bridge installs shim.py instead (same answers, slower start).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("shim.c")
_lock = threading.Lock()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gameday"


def wanted() -> bool:
    """The lean shim unless GAMEDAY_SHIM=python asks for shim.py."""
    return os.environ.get("GAMEDAY_SHIM", "lean").strip().lower() != "python"


def executable() -> Path | None:
    """The compiled shim, building it on first use; None when no C compiler can."""
    source = SOURCE.read_bytes()
    target = _cache_dir() / f"shim-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.exists():
        return target
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with _lock:  # stacks of one process start in threads; other processes race by rename
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(prefix=target.name + ".", dir=target.parent)
        os.close(fd)
        try:
            built = subprocess.run(
                [compiler, "-O2", "-o", staging, str(SOURCE)],
                capture_output=True,
                timeout=60,
            )
            if built.returncode != 0:
                return None
            os.chmod(staging, 0o755)
            os.replace(staging, target)
        except (OSError, subprocess.TimeoutExpired):
            return None
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
    return target
