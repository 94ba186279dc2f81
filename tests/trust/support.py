"""Shared by the trust tests: run the `gameday` console script on THIS checkout."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SITE = Path(__file__).resolve().parent / "site"  # test-only sitecustomize (see its docstring)


def checkout_env(*first: Path, **extra: str) -> dict[str, str]:
    """The environment for a `gameday` subprocess that imports `harness` from this checkout,
    whatever `pip install -e` points the console script at (another clone, an old wheel).
    Stack processes inherit it, so they run this checkout's services too."""
    paths = [*map(str, first), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **extra}
