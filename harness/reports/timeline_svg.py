"""The timeline of one gameday as an inline SVG: no external assets, no script.

    label column │ plot: time since fault injection (t0)
    ─────────────┼──────────────────────────────────────────────────────────────
                 │ inject ▏       detected ▏           recovered ▏   (markers)
    L69 curl …   │ ░░ steady ░│  ▇ failed                     │
    L63 docker … │            │   ▇▇▇▇▇▇▇ ok                  │   (one bar per step)
    load errors  │ ▁▁▁▁▁▁▁▁▁▁▁│▇▇▇▇▇▇▇▇▇▇▇▇▇▇▇▁▁▁▁▁▁▁▁▁▁▁▁▁▁│   (failed / sent, per s)
                 └ t0 ──── +0.1 s ──── +0.2 s ───────────────────── (axis)
    SEV-1 budget │ ▇ TTR 0.57 s ······························ 5 min (own scale)

The time axis spans the incident (a short lead-in before t0 to the last thing that
happened), so a 0.5 s recovery and a 300 s one both fill the width. The SEV budget bar has
its own scale (0 to the budget, or to TTR if that is longer), because on the incident's
scale a 5-minute budget would squash a half-second recovery to a pixel. Steady-state
(negative-control) runs happen before t0 and are left to the step table.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from harness.reports._format import (
    VERDICT_COLOURS,
    esc,
    incident_end,
    seconds,
)
from harness.reports.timeline_steps import (
    DESTROYED_KINDS,
    LABEL_W,
    LOAD_H,
    PLOT_W,
    ROW_H,
    WIDTH,
    _Lanes,
    _phase_title,
    destroyed_line,
)
from harness.result import GamedayResult, StepRun, Verdict

FONT = "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif\""

MARKER_COLOURS = {
    "inject": "#c62828",
    "detected": "#ef6c00",
    "lift": "#1565c0",
    "recovered": "#2e7d32",
    "confirmed": "#1b5e20",
    "declared": "#6a1b9a",
    "verdict": "#424242",
    "destroyed": "#000000",
}
# Event kinds that mark the end of a missed detection window (the incident declared by its
# impact), whichever name the runner gives it.
DECLARED_KINDS = ("declared", "declared-by-impact", "detection-window-end", "undetected")


@dataclass
class _Marker:
    t: float
    label: str
    colour: str
    dash: str = ""


def _nice_step(span: float, target: int = 8) -> float:
    raw = max(span, 1e-6) / target
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def _tick_label(v: float, step: float) -> str:
    if abs(v) < step / 1000:
        return "t0"
    sign = "+" if v > 0 else "−"
    a = abs(v)
    if step >= 60 and abs(a / 60 - round(a / 60)) < 1e-9:
        return f"{sign}{a / 60:g} min"
    decimals = max(0, -math.floor(math.log10(step)) + (1 if f"{step:g}".endswith("25") else 0))
    return f"{sign}{a:.{decimals}f} s"


def _svg_id(result: GamedayResult, prefix: str | None) -> str:
    if prefix:
        return prefix
    key = f"{result.scenario}|{result.runbook}|{result.started_at}|{result.duration_s}"
    return "gd-" + hashlib.sha1(key.encode()).hexdigest()[:10]


def _markers(result: GamedayResult) -> list[_Marker]:
    out = []
    t0 = result.t0
    if t0 is not None:
        # The axis's t0 is the record's t0; the inject event is logged a moment after it.
        out.append(_Marker(t0, "fault injected (t0)", MARKER_COLOURS["inject"]))
    declared = False
    recovered_label = {
        Verdict.RECOVERED_AFTER_LIFT: "back after the lift",
        Verdict.UNDETECTED: "resolution recovered",
    }.get(result.verdict, "recovered")
    for ev in result.events:
        if ev.kind == "detected" and t0 is not None:
            ttd = result.ttd_s if result.ttd_s is not None else ev.t - t0
            out.append(
                _Marker(t0 + ttd, f"detected +{seconds(ttd)}", MARKER_COLOURS["detected"], "4 3")
            )
        elif ev.kind in DECLARED_KINDS and t0 is not None and not declared:
            declared = True
            out.append(_declared(ev.t, t0))
        elif ev.kind in DESTROYED_KINDS:
            line = destroyed_line(result)
            label = f"data destroyed (line {line})" if line else "data destroyed"
            out.append(_Marker(ev.t, label, MARKER_COLOURS["destroyed"], "1 1"))
        elif ev.kind == "lift":
            out.append(_Marker(ev.t, "cause lifted", MARKER_COLOURS["lift"], "2 3"))
        elif ev.kind == "recovered" and t0 is not None:
            # The event is logged when the hold confirmed it; TTR is when it was first seen.
            finding = result.resolution_finding
            first_seen = finding.ttr_s if finding is not None else result.ttr_s
            ttr = first_seen if first_seen is not None else ev.t - t0
            colour = VERDICT_COLOURS.get(result.verdict.value, MARKER_COLOURS["recovered"])
            if result.verdict in (Verdict.RECOVERED, Verdict.SLOW, Verdict.UNDETECTED):
                colour = MARKER_COLOURS["recovered"]
            out.append(_Marker(t0 + ttr, f"{recovered_label} +{seconds(ttr)}", colour))
        elif ev.kind == "verdict" and ev.detail != "recovered" and result.ttr_s is None:
            out.append(
                _Marker(
                    ev.t,
                    f"verdict: {result.verdict.value}",
                    VERDICT_COLOURS.get(result.verdict.value, "#424242"),
                    "1 2",
                )
            )
    if t0 is not None and result.verdict == Verdict.UNDETECTED and not declared:
        # No event names the window's end: its last detection poll ended it.
        polls = [s.started + s.duration for s in result.steps if s.phase == "detect"]
        if polls:
            out.append(_declared(max(polls), t0))
    if t0 is not None and result.recovery_confirmed_s is not None:
        out.append(
            _Marker(
                t0 + result.recovery_confirmed_s,
                f"confirmed +{seconds(result.recovery_confirmed_s)} "
                f"(held {seconds(result.hold_s)})",
                MARKER_COLOURS["confirmed"],
                "6 2",
            )
        )
    return out


def _declared(t: float, t0: float) -> _Marker:
    return _Marker(
        t, f"undetected by +{seconds(t - t0)}: declared", MARKER_COLOURS["declared"], "4 3"
    )


def _domain(
    result: GamedayResult, steps: list[StepRun], markers: list[_Marker]
) -> tuple[float, float]:
    """(start, end) on the gameday clock: a lead-in before t0 to the last thing that happened."""
    origin = result.t0 if result.t0 is not None else 0.0
    ends = [origin] + [m.t for m in markers] + [s.started + s.duration for s in steps]
    end = max(ends)
    if end - origin < 1e-3:
        end = origin + max(5 * result.poll_interval_s, 0.5)
    lead = max(0.08 * (end - origin), result.poll_interval_s)
    start = max(0.0, origin - lead) if result.t0 is not None else 0.0
    return start, end + 0.03 * (end - start)


def _runs_of_equal_rate(
    buckets: list[tuple[float, int, int]],
) -> list[tuple[float, float, int, int]]:
    """Adjacent one-second buckets with the same error rate, merged: (t, t_end, ok, failed).
    A 300 s incident at a steady rate is one rectangle, not three hundred."""
    runs: list[tuple[float, float, int, int]] = []
    for t, ok, failed in sorted(buckets):
        if runs:
            t0, t1, ok0, failed0 = runs[-1]
            same = (
                (ok0 + failed0)
                and (ok + failed)
                and failed0 * (ok + failed) == failed * (ok0 + failed0)
            )
            if t1 == t and (same or (ok0 + failed0 == 0 and ok + failed == 0)):
                runs[-1] = (t0, t + 1, ok0 + ok, failed0 + failed)
                continue
        runs.append((t, t + 1, ok, failed))
    return runs


def timeline_svg(result: GamedayResult, id_prefix: str | None = None) -> str:
    """The timeline picture of one result, as a standalone `<svg>` element (UTF-8 text)."""
    uid = _svg_id(result, id_prefix)
    origin = result.t0 if result.t0 is not None else 0.0
    steps = [s for s in result.steps if s.phase != "steady-state"]
    markers = _markers(result)
    start, end = _domain(result, steps, markers)
    span = end - start

    def x(t: float) -> float:
        return LABEL_W + (min(max(t, start), end) - start) / span * PLOT_W

    parts = [_heading(result)]
    labels, label_rows = _marker_labels(markers, x)
    parts += labels
    plot_top = label_rows[-1] + 8
    lead_in_at = len(parts)  # the lead-in shading goes here once the plot's height is known
    rows, y = _step_rows(steps, _Lanes(result, x, uid, origin), plot_top)
    parts += rows
    load, y = _load_band(result, x, start, end, y + 6)
    parts += load
    if result.t0 is not None and start < origin:
        parts.insert(
            lead_in_at,
            f'<rect x="{LABEL_W}" y="{plot_top}" width="{x(origin) - LABEL_W:.1f}" '
            f'height="{y - plot_top:.1f}" fill="#f3f3f3"><title>before the fault: load '
            f"running, stack healthy</title></rect>",
        )
    # Markers span the steps and the load band.
    for m in markers:
        mx = x(m.t)
        dash = f' stroke-dasharray="{m.dash}"' if m.dash else ""
        parts.append(
            f'<line x1="{mx:.1f}" y1="{label_rows[0] + 4}" x2="{mx:.1f}" y2="{y:.1f}" '
            f'stroke="{m.colour}" stroke-width="1.5"{dash}/>'
        )
    parts += _axis(result, x, start, end, y)
    y += 28
    # SEV budget bar, on its own scale.
    y = _budget_bar(parts, result, y, uid)
    return _svg_element(result, uid, parts, y)


def _heading(result: GamedayResult) -> str:
    finding = result.resolution_finding
    heading = (
        f"{result.scenario}: {result.verdict.value}"
        + (f" (resolution: {finding.verdict.value})" if finding is not None else "")
        + f" · TTD {seconds(result.ttd_s)} · TTR {seconds(result.ttr_s)} · "
        f"SEV-{result.declared_severity} budget {seconds(result.budget_s)}"
    )
    return f'<text x="8" y="16" font-size="13" font-weight="600">{esc(heading)}</text>'


def _marker_labels(
    markers: list[_Marker], x: Callable[[float], float]
) -> tuple[list[str], tuple[float, ...]]:
    """Marker labels in staggered rows, so close events (detect, recover, lift, confirm) stay
    legible: each label takes the first row where it overlaps no other label. Also the rows'
    heights, the first of which the marker lines start from."""
    placed: list[list[tuple[float, float]]] = []
    labels: list[tuple[_Marker, float, str, int]] = []
    for m in sorted(markers, key=lambda m: m.t):
        mx = x(m.t)
        w = 6.2 * len(m.label)
        anchor, left = ("end", mx - w) if mx + w > WIDTH - 4 else ("start", mx)
        free = [
            i
            for i, row in enumerate(placed)
            if all(left + w + 6 < a or left > b + 6 for a, b in row)
        ]
        if not free:  # a new lane: labels never overlap, however close the events are
            placed.append([])
            free = [len(placed) - 1]
        row_i = free[0]
        placed[row_i].append((left, left + w))
        labels.append((m, mx, anchor, row_i))
    rows_used = max((r for *_, r in labels), default=0) + 1
    label_rows = tuple(34.0 + 14 * i for i in range(max(rows_used, 2)))
    return [
        f'<text x="{mx + (2 if anchor == "start" else -2):.1f}" y="{label_rows[row_i]}" '
        f'font-size="11" '
        f'fill="{m.colour}" text-anchor="{anchor}">{esc(m.label)}</text>'
        for m, mx, anchor, row_i in labels
    ], label_rows


def _step_rows(steps: list[StepRun], lanes: _Lanes, y: float) -> tuple[list[str], float]:
    """One row per step run after t0: detection polls, then resolution steps in runbook
    order, under a title per phase. Also the y below the last row."""
    parts: list[str] = []
    if not steps:
        parts.append(
            f'<text x="{LABEL_W + 6}" y="{y + 13}" font-size="11" fill="#757575">'
            f"no runbook step ran after the fault was injected</text>"
        )
        y += ROW_H
    current_phase = ""
    for s in steps:
        if s.phase != current_phase:
            current_phase = s.phase
            parts.append(
                f'<text x="8" y="{y + 12}" font-size="10" font-weight="600" fill="#555" '
                f'letter-spacing="0.05em">{esc(_phase_title(s.phase))}</text>'
            )
            y += 14
        parts += lanes.row(s, y)
        y += ROW_H
    return parts, y


def _load_band(
    result: GamedayResult, x: Callable[[float], float], start: float, end: float, load_top: float
) -> tuple[list[str], float]:
    """The background load's error rate, per one-second bucket of the gameday clock. Also the
    y below the band."""
    parts = [
        f'<text x="8" y="{load_top + 14}" font-size="11">background load: errors</text>',
        f'<text x="8" y="{load_top + 27}" font-size="10" fill="#757575">failed ÷ sent, per second'
        f"</text>",
        f'<rect x="{LABEL_W}" y="{load_top}" width="{PLOT_W}" height="{LOAD_H}" fill="none" '
        f'stroke="#ddd"/>',
        f'<text x="{LABEL_W - 4}" y="{load_top + 9}" font-size="9" fill="#757575" '
        f'text-anchor="end">100 %</text>',
        f'<text x="{LABEL_W - 4}" y="{load_top + LOAD_H}" font-size="9" fill="#757575" '
        f'text-anchor="end">0 %</text>',
    ]
    buckets = [b for b in result.impact.buckets if b[0] + 1 > start and b[0] < end]
    if not result.impact.buckets:
        parts.append(
            f'<text x="{LABEL_W + 6}" y="{load_top + LOAD_H / 2 + 4}" font-size="10" '
            f'fill="#757575">no load was recorded</text>'
        )
    for t, t_end, ok, failed in _runs_of_equal_rate(buckets):
        sent = ok + failed
        rate = failed / sent if sent else 0.0
        bx0, bx1 = x(t), x(t_end)
        h = rate * (LOAD_H - 2)
        tip = f"{t:g}–{t_end:g} s: {ok} ok, {failed} failed ({rate:.0%})"
        parts.append(
            f'<rect x="{bx0:.1f}" y="{load_top + LOAD_H - 1 - h:.1f}" '
            f'width="{max(bx1 - bx0, 1):.1f}" height="{max(h, 1.5 if sent else 0):.1f}" '
            f'fill="{"#e53935" if failed else "#a5d6a7"}" '
            f'fill-opacity="0.75"><title>{esc(tip)}</title></rect>'
        )
    return parts, load_top + LOAD_H


def _axis(
    result: GamedayResult, x: Callable[[float], float], start: float, end: float, y: float
) -> list[str]:
    """The time axis at y: time since t0 (or since the start when nothing was injected)."""
    origin = result.t0 if result.t0 is not None else 0.0
    parts = [
        f'<line x1="{LABEL_W}" y1="{y:.1f}" x2="{LABEL_W + PLOT_W}" y2="{y:.1f}" stroke="#333"/>'
    ]
    step = _nice_step(end - start)
    k = math.ceil((start - origin) / step - 1e-9)
    while origin + k * step <= end + 1e-9:
        tx = x(origin + k * step)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{y:.1f}" x2="{tx:.1f}" y2="{y + 4:.1f}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{y + 15:.1f}" font-size="10" text-anchor="middle">'
            f"{esc(_tick_label(k * step, step))}</text>"
        )
        k += 1
    caption = (
        "time since fault injection"
        if result.t0 is not None
        else ("time since the gameday started (no fault was injected)")
    )
    parts.append(
        f'<text x="8" y="{y + 15:.1f}" font-size="10" fill="#757575">{esc(caption)}</text>'
    )
    return parts


def _svg_element(result: GamedayResult, uid: str, parts: list[str], y: float) -> str:
    defs = (
        f'<defs><pattern id="{uid}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="4" height="4" fill="#eee"/>'
        f'<line x1="0" y1="0" x2="0" y2="4" stroke="#9e9e9e" stroke-width="2"/></pattern></defs>'
    )
    height = int(y + 8)
    body = "".join(parts)
    ttd, ttr = seconds(result.ttd_s), seconds(result.ttr_s)
    title = f"Gameday timeline for {result.scenario}: {result.verdict.value}, TTD {ttd}, TTR {ttr}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gameday-timeline" id="{uid}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{uid}-title" style="max-width:100%;height:auto;background:#fff" '
        f'{FONT}><title id="{uid}-title">{esc(title)}</title>{defs}{body}</svg>'
    )


def _budget_bar(parts: list[str], result: GamedayResult, y: float, uid: str) -> float:
    add = parts.append
    budget = result.budget_s
    elapsed_unrecovered = None
    end = incident_end(result)
    if result.ttr_s is None and result.t0 is not None and end is not None:
        elapsed_unrecovered = max(end - result.t0, 0.0)
    spent = result.ttr_s if result.ttr_s is not None else elapsed_unrecovered
    full = max(budget, spent or 0.0, 1e-6)
    add(
        f'<text x="8" y="{y + 12}" font-size="11" font-weight="600">'
        f"SEV-{result.declared_severity} budget {esc(seconds(budget))}</text>"
    )
    add(
        f'<rect x="{LABEL_W}" y="{y}" width="{PLOT_W * budget / full:.1f}" height="16" '
        f'fill="#eceff1" '
        f'stroke="#90a4ae"><title>response-time budget of SEV-{result.declared_severity}: '
        f"{esc(seconds(budget))}</title></rect>"
    )
    if result.ttr_s is not None:
        within = result.ttr_s <= budget
        colour = VERDICT_COLOURS["recovered"] if within else VERDICT_COLOURS["not-recovered"]
        w = max(PLOT_W * result.ttr_s / full, 2.0)
        share = result.ttr_s / budget if budget else float("inf")
        text = f"TTR {seconds(result.ttr_s)} = {share:.1%} of the budget"
        if not within:
            text += f" (over by {seconds(result.ttr_s - budget)})"
        if result.verdict == Verdict.RECOVERED_AFTER_LIFT:
            colour = VERDICT_COLOURS[result.verdict.value]
            text += " — only once the fault was lifted: not the runbook's recovery"
        add(
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="10" fill="{colour}">'
            f"<title>{esc(text)}</title></rect>"
        )
    elif elapsed_unrecovered is not None:
        w = max(PLOT_W * elapsed_unrecovered / full, 2.0)
        text = (
            f"not recovered: {result.verdict.value}; incident recorded for "
            f"{seconds(elapsed_unrecovered)} after t0"
        )
        finding = result.resolution_finding
        if finding is not None:
            text += f"; resolution: {finding.verdict.value}" + (
                f" at +{seconds(finding.ttr_s)}" if finding.ttr_s is not None else ""
            )
        add(
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="10" fill="url(#{uid}-hatch)" '
            f'stroke="{VERDICT_COLOURS["not-recovered"]}"><title>{esc(text)}</title></rect>'
        )
    else:
        text = f"no fault was injected ({result.verdict.value})"
    add(f'<text x="{LABEL_W}" y="{y + 30}" font-size="10" fill="#333">{esc(text)}</text>')
    if result.ttd_s is not None:
        add(
            f'<text x="{LABEL_W + PLOT_W}" y="{y + 30}" font-size="10" fill="#333" '
            'text-anchor="end">'
            f"TTD {esc(seconds(result.ttd_s))}</text>"
        )
    return y + 36
