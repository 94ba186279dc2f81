"""The terminal's view of a run: the reports' status board (`harness/reports/board.py`), or,
where that is not installed, a plain printer with the same interface: one line when a
gameday starts, one per phase (`-v`), one when it ends, and the verdicts at the close.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

from harness.result import GamedayResult

WIDTH = 120  # no line longer, without -v


def make_board(stream: IO[str], verbose: bool = False, color: bool | None = None) -> Any:
    """The StatusBoard of harness/reports/board.py when present, else PlainBoard."""
    import importlib

    try:
        board = importlib.import_module("harness.reports.board")
    except ImportError:
        return PlainBoard(stream, verbose=verbose, color=color)
    return board.StatusBoard(stream, verbose=verbose, color=color)


class PlainBoard:
    """Plain lines, as a CI log wants them."""

    def __init__(self, stream: IO[str], verbose: bool = False, color: bool | None = None) -> None:
        self.stream, self.verbose = stream, verbose
        self.labels: dict[str, str] = {}
        self.t0: dict[str, float] = {}

    def _line(self, text: str) -> None:
        if not self.verbose:
            text = " ".join(text.splitlines())
        if not self.verbose and len(text) > WIDTH:
            text = text[: WIDTH - 1] + "…"
        self.stream.write(text + "\n")
        self.stream.flush()

    def started(self, key: str, label: str) -> None:
        self.labels[key], self.t0[key] = label, time.monotonic()
        if self.verbose:
            self._line(f"{label}: started")

    def phase(self, key: str, phase: str) -> None:
        if self.verbose:
            elapsed = time.monotonic() - self.t0.get(key, time.monotonic())
            self._line(f"{self.labels.get(key, key)}: {phase} ({elapsed:.0f} s)")

    def finished(self, result: GamedayResult, expected: str | None) -> None:
        mark = "" if expected is None or expected.split(" ")[0] == result.verdict.value else (
            f"  [expected {expected}]")
        self._line(f"{Path(result.runbook).name}  {result.summary()}{mark}")

    def close(self, results: list[GamedayResult]) -> None:
        self._line(f"{len(results)} gameday(s) finished")
