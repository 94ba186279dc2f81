"""The terminal during `gameday run`: a status board, not a log.

    On a terminal (redrawn in place, below the finished lines):

      ✓ recovered       service-down        incident-response        TTD 0.10 s  TTR 0.50 s / 5 min
      ✗ not-recovered   high-error-rate     incident-response        TTD 0.31 s  TTR -      / 15 min
      ⠿ llm-quota · incident-response: detect  12 s                  (one live line a gameday)

    Not a terminal (CI logs): the finished lines only, one per gameday, no cursor movement.
    Then, on both, a final table grouped by runbook.

A finished line is at most 120 characters (`-v` adds the reason and the second finding on
indented lines below it). A verdict other than the expected one is marked `≠ expected X`;
the expected one says `as expected`. Colour only on a terminal, never with NO_COLOR set.
The board draws from the records it is handed; it decides nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from harness.reports._format import runbook_stem
from harness.reports._humanize import plain
from harness.reports.scorecard import tonight_line
from harness.result import GamedayResult, Verdict

LINE_MAX = 120
REFRESH_S = 1.0  # how often the live lines' elapsed time is redrawn on a terminal

_ANSI = {
    Verdict.RECOVERED.value: "32",
    Verdict.RECOVERED_AFTER_LIFT.value: "36",
    Verdict.SLOW.value: "33",
    Verdict.NOT_RECOVERED.value: "31",
    Verdict.UNDETECTED.value: "35",
    Verdict.ABORTED.value: "90",
    Verdict.DATA_LOSS.value: "1;31",
}
_MARK = {Verdict.RECOVERED.value: "✓", Verdict.SLOW.value: "~"}


def _fit(text: str, width: int = LINE_MAX) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class _Live:
    label: str
    phase: str
    since: float


class StatusBoard:
    """One live line per running gameday, one line per finished one, a final table."""

    def __init__(self, stream: TextIO, verbose: bool = False, color: bool | None = None) -> None:
        self.stream = stream
        self.verbose = verbose
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        if color is None:
            color = self.tty and not os.environ.get("NO_COLOR")
        self.color = color
        self._live: dict[str, _Live] = {}
        self._drawn = 0  # live lines currently on screen (terminal only)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- events -----------------------------------------------------------------------

    def started(self, key: str, label: str) -> None:
        with self._lock:
            self._live[key] = _Live(label, "starting", time.monotonic())
            if self.verbose and not self.tty:
                self._write([_fit(f"  {label}: starting")])
            self._redraw()
        if self.tty and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="status-board", daemon=True)
            self._ticker.start()

    def phase(self, key: str, phase: str) -> None:
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return
            live.phase = phase
            if self.verbose and not self.tty:
                self._write([_fit(f"  {live.label}: {phase}")])
            self._redraw()

    def finished(self, result: GamedayResult, expected: str | None) -> None:
        with self._lock:
            self._live.pop(_key(result), None)
            lines = [self.verdict_line(result, expected)]
            if self.verbose:
                lines += self.details(result)
            self._write(lines)

    def close(self, results: list[GamedayResult]) -> None:
        """Stop the live lines and print the final table, grouped by runbook."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2 * REFRESH_S)
        with self._lock:
            self._live.clear()
            self._clear()
            self._write_raw(self.table(results))

    # -- lines ------------------------------------------------------------------------

    def paint(self, verdict: str, text: str) -> str:
        if not self.color:
            return text
        return f"\x1b[{_ANSI.get(verdict, '0')}m{text}\x1b[0m"

    def verdict_line(self, result: GamedayResult, expected: str | None) -> str:
        """≤ 120 characters: mark, verdict (→ second finding), scenario, runbook, TTD, TTR
        against the budget, and `≠ expected X` when the verdict is not the expected one.
        The names give way first when the line would be too long; the verdict, the figures
        and the mark never do."""
        verdict = result.verdict.value
        finding = result.resolution_finding
        shown = verdict + (f"→{finding.verdict.value}" if finding is not None else "")
        mark = _MARK.get(verdict, "✗")
        figures = (
            f"TTD {_short(result.ttd_s):>6}  TTR {_short(result.ttr_s):>6} of "
            f"{_short(result.budget_s):<6}"
        )
        tail = f"  ≠ expected {_expected_words(expected)}" if _differs(result, expected) else ""
        head = f"{mark} {shown:<24} "
        room = LINE_MAX - len(head) - 2 - len(figures) - len(tail)
        scenario_w = min(30, max(8, room - 24))
        runbook_w = max(6, min(23, room - scenario_w - 1))
        names = f"{_cut(result.scenario, scenario_w):<{scenario_w}} "
        names += f"{_cut(runbook_stem(result.runbook), runbook_w):<{runbook_w}}"
        text = _fit(f"{head}{names}  {figures}{tail}".rstrip())
        # Colour after fitting, so escape codes never count towards the width.
        return text.replace(f"{mark} {shown}", self.paint(verdict, f"{mark} {shown}"), 1)

    def details(self, result: GamedayResult) -> list[str]:
        """-v: the reason and the second finding, wrapped and indented under the line."""
        out = []
        reason = plain(result, result.reason)
        if reason:
            out += textwrap.wrap(
                reason, LINE_MAX - 6, initial_indent="    ", subsequent_indent="      "
            )
        finding = result.resolution_finding
        if finding is not None:
            text = f"resolution: {finding.verdict.value}" + (
                f" — {plain(result, finding.reason)}" if finding.reason else ""
            )
            out += textwrap.wrap(
                text, LINE_MAX - 6, initial_indent="    ", subsequent_indent="      "
            )
        for item in result.unchecked:
            out += textwrap.wrap(
                f"not checked: {plain(result, item)}",
                LINE_MAX - 6,
                initial_indent="    ",
                subsequent_indent="      ",
            )
        return out

    def table(self, results: list[GamedayResult]) -> list[str]:
        """The final table: per runbook its "would it work tonight" line, then its scenarios."""
        if not results:
            return ["no gameday finished"]
        by_runbook: dict[str, list[GamedayResult]] = {}
        for r in results:
            by_runbook.setdefault(r.runbook, []).append(r)
        out = [""]
        for runbook, rows in by_runbook.items():
            out += textwrap.wrap(
                f"{runbook_stem(runbook)}: {tonight_line(rows)}",
                LINE_MAX,
                subsequent_indent="    ",
            )
            out.append(
                f"  {'scenario':<32} {'verdict':<21} {'second finding':<21} "
                f"{'TTD':>7} {'TTR':>7}  budget"
            )
            for r in sorted(rows, key=lambda r: r.scenario):
                finding = r.resolution_finding
                second = finding.verdict.value if finding is not None else ""
                verdict = r.verdict.value
                line = _fit(
                    f"  {_cut(r.scenario, 32):<32} {verdict:<21} {second:<21} "
                    f"{_short(r.ttd_s):>7} {_short(r.ttr_s):>7}  {_budget(r)}"
                )
                out.append(line.replace(verdict, self.paint(verdict, verdict), 1))
            out.append("")
        return out

    # -- drawing ----------------------------------------------------------------------

    def _live_lines(self) -> list[str]:
        # A live line that wrapped would throw the redraw off by a line: fit the terminal.
        width = min(LINE_MAX, shutil.get_terminal_size((LINE_MAX + 1, 24)).columns - 1)
        now = time.monotonic()
        return [
            _fit(f"  … {live.label}: {live.phase}  {_elapsed(now - live.since)}", width)
            for live in self._live.values()
        ]

    def _clear(self) -> None:
        if self.tty and self._drawn:
            # Up to the first live line, then erase to the end of the screen.
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _redraw(self) -> None:
        if not self.tty:
            return
        self._clear()
        lines = self._live_lines()
        for line in lines:
            self.stream.write(line + "\n")
        self._drawn = len(lines)
        self.stream.flush()

    def _write(self, lines: list[str]) -> None:
        """Finished lines go above the live ones, which are then drawn again."""
        self._clear()
        self._write_raw(lines)
        self._redraw()

    def _write_raw(self, lines: list[str]) -> None:
        for line in lines:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(REFRESH_S):
            with self._lock:
                if self._live:
                    self._redraw()


_EXPECTED = re.compile(r"^(?P<verdict>[\w-]+)(?: \(resolution (?P<resolution>[\w-]+)\))?")


def _differs(result: GamedayResult, expected: str | None) -> bool:
    """Whether the result is not the expected one. The executor says `undetected` or, where
    the baseline pins the second finding too, `undetected (resolution not-recovered)`."""
    m = _EXPECTED.match(expected or "")
    if m is None:
        return False
    if m.group("verdict") != result.verdict.value:
        return True
    finding = result.resolution_finding
    second = finding.verdict.value if finding is not None else None
    return m.group("resolution") is not None and m.group("resolution") != second


def _expected_words(expected: str | None) -> str:
    m = _EXPECTED.match(expected or "")
    if m is None:
        return expected or ""
    return m.group("verdict") + (f"→{m.group('resolution')}" if m.group("resolution") else "")


def _key(result: GamedayResult) -> str:
    """The executor's key for a gameday (`Job.key`): `<scenario>--<runbook stem>`."""
    return f"{result.scenario}--{runbook_stem(result.runbook)}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(value: float | None) -> str:
    """A duration in at most 6 characters: 0.08s, 12.0s, 5m00s, 1h00m."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}s"
    if value < 100:
        return f"{value:.1f}s"
    if value < 3600:
        m, sec = divmod(round(value), 60)
        return f"{m}m{sec:02d}s"
    h, rest = divmod(round(value), 3600)
    return f"{h}h{rest // 60:02d}m"


def _budget(result: GamedayResult) -> str:
    return f"SEV-{result.declared_severity} {_short(result.budget_s)}"


def _elapsed(value: float) -> str:
    m, s = divmod(int(value), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"
