"""The step rows of the timeline (`timeline_svg.py`): one lane a runbook step.

    L69 curl -f http://localhost:8000/ready   │ ░░░░|░|░|░|░|░|░░░▇ failed 22 · detected
    L191 docker-compose down -v               │             ▇ ⚠ destroyed acknowledged data

A polled detection step is a band over the time it was re-run with a tick per recorded run;
its last run is a bar. Geometry constants live here so both modules share one layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.reports._format import (
    BASELINE_FAILING,
    BASELINE_FAILING_COLOUR,
    STATUS_COLOURS,
    command_text,
    esc,
    is_baseline_failing,
    seconds,
)
from harness.result import GamedayResult, StepRun, StepStatus, Verdict

WIDTH = 1180
LABEL_W = 330
LABEL_CHARS = 50  # a step's label in the label column; the whole command is its <title>
RIGHT = 24
PLOT_W = WIDTH - LABEL_W - RIGHT
ROW_H = 18
BAR_H = 12
LOAD_H = 54
DESTROYED_KINDS = ("data-destroyed",)
POLL_BAND = "#ffe0b2"  # where a detection step was being re-run (the detection window)


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def destroyed_line(result: GamedayResult) -> int | None:
    """The runbook line of the step that destroyed acknowledged data, if the record names it
    (the `data-destroyed` event, else a data-loss reason: "after line 191 ...")."""
    texts = [e.detail for e in result.events if e.kind in DESTROYED_KINDS]
    if result.verdict == Verdict.DATA_LOSS:
        texts.append(result.reason)
    for text in texts:
        m = re.search(r"\bline (\d+)", text)
        if m:
            return int(m.group(1))
    return None


def window_open(result: GamedayResult) -> float | None:
    """When the detection steps started being polled: the injector's confirmation, else t0."""
    for ev in result.events:
        if ev.kind == "fault-confirmed":
            return ev.t
    return result.t0


def step_runs(step: StepRun) -> list[tuple[float, float, int | None]]:
    """Each recorded run of a polled step as (started, duration, exit code). The record may
    carry them (`StepRun.runs`, optional); without it only the step's last run is known."""
    runs = getattr(step, "runs", None) or []
    out = []
    for run in runs:
        if isinstance(run, dict):
            out.append(
                (
                    float(run.get("started", 0.0)),
                    float(run.get("duration", 0.0)),
                    run.get("exit_code"),
                )
            )
        elif isinstance(run, list | tuple) and len(run) >= 2:
            out.append((float(run[0]), float(run[1]), run[2] if len(run) > 2 else None))
    return out


def _phase_title(phase: str) -> str:
    return {
        "detect": "DETECTION (each step re-run until one shows the fault)",
        "resolve": "RESOLUTION (in runbook order)",
    }.get(phase, phase.upper())


class _Lanes:
    """One row a step: its label (the whole command on hover), then its runs.

    A polled detection step is a lane: a band over the time it was being re-run, one tick
    per recorded run (`StepRun.runs`), and its last run as a bar. A step failing on the
    healthy stack is grey (it cannot show a fault); the step that destroyed acknowledged
    data is outlined in black and says so."""

    def __init__(
        self, result: GamedayResult, x: Callable[[float], float], uid: str, origin: float
    ) -> None:
        self.result, self.x, self.uid, self.origin = result, x, uid, origin
        self.destroyer = destroyed_line(result)
        self.opened = window_open(result)

    def row(self, s: StepRun, y: float) -> list[str]:
        out = [self._label(s, y)]
        if s.phase == "detect":
            out += self._poll_lane(s, y)
        out += self._bar(s, y)
        return out

    def _label(self, s: StepRun, y: float) -> str:
        text = command_text(s.command) if s.command else f"# {s.comment}"
        full = f"line {s.line}: {text}" + (f"  # {s.comment}" if s.command and s.comment else "")
        return (
            f'<text x="8" y="{y + 12}" font-size="11" font-family="ui-monospace,Menlo,Consolas,'
            f'monospace"><title>{esc(full)}</title>{esc(short(f"L{s.line} {text}", LABEL_CHARS))}'
            "</text>"
        )

    def _poll_lane(self, s: StepRun, y: float) -> list[str]:
        x, out = self.x, []
        runs = step_runs(s)
        start = min(
            [r[0] for r in runs], default=self.opened if self.opened is not None else s.started
        )
        end = max([r[0] + r[1] for r in runs], default=s.started + s.duration)
        if end > start:
            what = (
                f"{len(runs)} recorded runs"
                if runs
                else "re-run every ~"
                + seconds(self.result.ttd_resolution_s or self.result.poll_interval_s)
                + "; this record keeps only the last run"
            )
            out.append(
                f'<rect x="{x(start):.1f}" y="{y + 2:.1f}" width="{x(end) - x(start):.1f}" '
                f'height="{ROW_H - 4}" fill="{POLL_BAND}" fill-opacity="0.6">'
                f"<title>polled from +{esc(seconds(start - self.origin))} to "
                f"+{esc(seconds(end - self.origin))} ({esc(what)})</title></rect>"
            )
        grey = is_baseline_failing(self.result, s)
        for started, _took, code in runs:
            differs = code is not None and s.baseline_exit is not None and code != s.baseline_exit
            colour = "#9e9e9e" if grey else ("#ef6c00" if differs else "#66bb6a")
            out.append(
                f'<line x1="{x(started):.1f}" y1="{y + 3:.1f}" x2="{x(started):.1f}" '
                f'y2="{y + ROW_H - 3:.1f}" stroke="{colour}" stroke-width="1" class="tick"/>'
            )
        return out

    def _bar(self, s: StepRun, y: float) -> list[str]:
        x, out = self.x, []
        bx, bw = x(s.started), max(x(s.started + s.duration) - x(s.started), 2.0)
        status = s.status.value
        colour = STATUS_COLOURS.get(status, "#9e9e9e")
        if s.status != StepStatus.OK and is_baseline_failing(self.result, s):
            status, colour = BASELINE_FAILING, BASELINE_FAILING_COLOUR
        destroyed = s.phase == "resolve" and s.line == self.destroyer
        tip = (
            f"line {s.line} ({s.phase}): {status}"
            + (f", exit {s.exit_code}" if s.exit_code is not None else "")
            + f", started +{seconds(s.started - self.origin)}, took {seconds(s.duration)}"
            + (" — detected the fault" if s.detected else "")
            + (" — destroyed acknowledged data" if destroyed else "")
            + (f" — manual: {s.manual_reason}" if s.manual_reason else "")
        )
        by = y + (ROW_H - BAR_H) / 2
        if s.status == StepStatus.MANUAL:
            out.append(
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="8" height="{BAR_H}" '
                f'fill="url(#{self.uid}-hatch)" stroke="{colour}"><title>{esc(tip)}</title></rect>'
            )
            bw = 8.0
        else:
            outline = (
                ' stroke="#000" stroke-width="2.5"'
                if destroyed
                else ' stroke="#000" stroke-width="1.5"'
                if s.detected
                else ""
            )
            out.append(
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{BAR_H}" rx="2" '
                f'fill="{colour}"{outline}><title>{esc(tip)}</title></rect>'
            )
        note = status + (f" {s.exit_code}" if s.exit_code not in (None, 0) else "")
        note += f" · {seconds(s.duration)}" + (" · detected" if s.detected else "")
        if destroyed:
            note = "⚠ destroyed acknowledged data · " + note
        if s.phase == "detect" and not step_runs(s):
            note += " (last run)"
        note_w = 5.6 * len(note)
        if bx + bw + note_w + 6 < WIDTH - 2:  # right of the bar
            note_x, anchor, fill = bx + bw + 4, "start", "#333"
        elif bw > note_w + 8:  # inside a long bar
            note_x, anchor, fill = bx + bw - 4, "end", "#fff"
        else:  # left of the bar, never over the label column
            note_x, anchor, fill = max(bx - 4, LABEL_W + note_w), "end", "#333"
        weight = ' font-weight="700"' if destroyed else ""
        out.append(
            f'<text x="{note_x:.1f}" y="{y + 12}" font-size="10" fill="{fill}"{weight} '
            f'text-anchor="{anchor}">{esc(note)}</text>'
        )
        return out
