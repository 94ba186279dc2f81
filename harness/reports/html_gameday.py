"""One gameday's block in the standalone HTML report (`harness/reports/html.py`).

    ┌ badge · scenario — title · runbook · as expected | regression · TTD · TTR / budget ┐
    │ The reason, one readable sentence a finding (always shown, even when collapsed)     │
    │ Resolution once declared: badge + its reason (the second finding)                   │
    │ Not checked by this verdict (always shown)                                          │
    ├ <details> (open unless the gameday went as expected) ───────────────────────────────┤
    │ runbook steps · timeline · facts                                                    │
    └──────────────────────────────────────────────────────────────────────────────────────┘

Every string from the record is escaped here, where it meets markup, and shown through the
humanizing pass (`_humanize`): the stack's names, never loopback ports or Python reprs.
"""

from __future__ import annotations

from harness.reports._format import (
    BASELINE_FAILING,
    BASELINE_FAILING_COLOUR,
    STATUS_COLOURS,
    VERDICT_COLOURS,
    VERDICT_MEANINGS,
    command_text,
    esc,
    excerpt,
    incident_end,
    is_baseline_failing,
    runbook_stem,
    seconds,
    strip_progress_meter,
)
from harness.reports._humanize import plain, sentence
from harness.reports.scorecard import Recorded, expectation_word
from harness.reports.timeline_steps import destroyed_line
from harness.reports.timeline_svg import timeline_svg
from harness.result import GamedayResult, StepRun, StepStatus, Verdict

DASH = '<span class="muted">-</span>'


def anchor(result: GamedayResult) -> str:
    """The block's id, the scorecard cell's link target."""
    return f"gd-{result.scenario}--{runbook_stem(result.runbook)}"


def badge(verdict: str, small: bool = False) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#424242")
    size = " small" if small else ""
    meaning = VERDICT_MEANINGS.get(verdict)
    tip = f' title="{esc(meaning)}"' if meaning else ""
    return (
        f'<span class="badge gd-verdict{size}" style="background:{colour}"{tip}>'
        f"{esc(verdict)}</span>"
    )


def word_html(word: str) -> str:
    if not word:
        return ""
    return f'<span class="word word-{esc(word.replace(" ", "-"))}">{esc(word)}</span>'


def _prose(text: str) -> str:
    """Escaped text with the record's `backticked` commands as code."""
    pieces = esc(text).split("`")
    if len(pieces) % 2 == 0:  # an unmatched backtick: leave the text as it is
        return esc(text)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def reason_html(result: GamedayResult, text: str, css: str = "reason") -> str:
    """A reason as sentences: the first clause leads, the others follow as a short list."""
    parts = sentence(result, text)
    if not parts:
        return ""
    stop = "" if parts[0].endswith(".") else "."
    head = f'<p class="{css} gd-reason">{_prose(parts[0])}{stop}</p>'
    if len(parts) == 1:
        return head
    items = "".join(f"<li>{_prose(p)}</li>" for p in parts[1:])
    return head + f'<ul class="{css}-more">{items}</ul>'


def _no_reason(result: GamedayResult) -> str:
    """What to say when the verdict carries no reason (a recovery)."""
    if result.verdict == Verdict.RECOVERED and result.ttr_s is not None:
        held = f", held {seconds(result.hold_s)} with no restart" if result.hold_s else ""
        return (
            f"The runbook's steps recovered the service {seconds(result.ttr_s)} after the fault "
            f"(SEV-{result.declared_severity} budget {seconds(result.budget_s)}){held}."
        )
    return f"Verdict {result.verdict.value}; the record gives no reason."


def figures(result: GamedayResult) -> str:
    return (
        f"TTD {seconds(result.ttd_s)} · TTR {seconds(result.ttr_s)} / "
        f"SEV-{result.declared_severity} {seconds(result.budget_s)}"
    )


def second_finding_html(result: GamedayResult) -> str:
    f = result.resolution_finding
    if f is None:
        return ""
    back = f" Service back {seconds(f.ttr_s)} after the fault." if f.ttr_s is not None else ""
    body = reason_html(result, f.reason, "finding") if f.reason else ""
    return (
        '<div class="second gd-finding"><span class="label">Resolution once declared '
        f"(second finding):</span> {badge(f.verdict.value, small=True)}{esc(back)}{body}</div>"
    )


def unchecked_html(result: GamedayResult) -> str:
    if not result.unchecked:
        return ""
    items = "".join(f"<li>{esc(plain(result, u))}</li>" for u in result.unchecked)
    return (
        '<div class="unchecked gd-unchecked"><strong>Not checked by this verdict</strong>'
        f"<ul>{items}</ul></div>"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def facts_html(result: GamedayResult) -> str:
    imp, led, check = result.impact, result.ledger, result.fault_check
    rows: list[tuple[str, str]] = [
        (
            "runbook section",
            f"{esc(result.section)} "
            f'<span class="muted">({esc(runbook_stem(result.runbook))})</span>',
        ),
        (
            "fault",
            f"<code>{esc(result.fault)}</code>: {esc(plain(result, result.fault_description))}",
        ),
    ]
    if check.checked:
        state = "still present" if check.present else "gone"
        rows.append(
            (
                "fault check",
                f"<strong>{state}</strong> when recovery was judged"
                + (f": {esc(plain(result, check.evidence))}" if check.evidence else ""),
            )
        )
    else:
        rows.append(
            ("fault check", '<span class="muted">the injector has no check for this fault</span>')
        )
    recovery = seconds(result.ttr_s)
    if result.recovery_confirmed_s is not None:
        recovery += (
            f", confirmed at {seconds(result.recovery_confirmed_s)} after holding "
            f"{seconds(result.hold_s)}"
        )
    end = incident_end(result)
    if result.ttr_s is None and end is not None and result.t0 is not None:
        recovery += f" (incident recorded for {seconds(end - result.t0)})"
    rows += [
        ("TTD · TTR", esc(f"{seconds(result.ttd_s)} · {recovery}")),
        (
            "impact",
            esc(
                f"{imp.incident_failed} of {imp.incident_requests} requests failed during the "
                f"incident; p50 {_ms(imp.p50_ms)}, p99 {_ms(imp.p99_ms)}; impact says "
                f"SEV-{imp.severity}, the runbook SEV-{result.declared_severity}"
            ),
        ),
        (
            "acknowledged writes",
            esc(
                f"{led.verified} of {led.acknowledged} readable afterwards"
                + (
                    f"; lost: {', '.join(led.lost[:5])}" + ("…" if len(led.lost) > 5 else "")
                    if led.lost
                    else ""
                )
            ),
        ),
    ]
    if result.baseline_failing_steps:
        rows.append(
            (
                BASELINE_FAILING,
                "<br>".join(
                    f"<code>{esc(command_text(n))}</code>" for n in result.baseline_failing_steps
                )
                + '<br><span class="muted">non-zero on the healthy stack too: they cannot show '
                "this fault</span>",
            )
        )
    if result.noisy_steps:
        rows.append(
            (
                "noisy steps",
                "<br>".join(f"<code>{esc(command_text(n))}</code>" for n in result.noisy_steps),
            )
        )
    if result.notes:
        rows.append(("notes", "<br>".join(esc(plain(result, n)) for n in result.notes)))
    rows.append(
        (
            "ran",
            esc(f"{result.started_at} on {result.backend}, {seconds(result.duration_s)} in all"),
        )
    )
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def step_status(result: GamedayResult, step: StepRun) -> str:
    """A step failing on the healthy stack reads "failing at baseline", never "failed"."""
    failing = step.status in (StepStatus.FAILED, StepStatus.TIMED_OUT)
    if failing and (step.phase == "steady-state" or is_baseline_failing(result, step)):
        return BASELINE_FAILING
    return step.status.value


def _status_html(status: str) -> str:
    colour = (
        BASELINE_FAILING_COLOUR
        if status == BASELINE_FAILING
        else STATUS_COLOURS.get(status, "#9e9e9e")
    )
    ink = "#212121" if status == StepStatus.SKIPPED.value else "#fff"
    return f'<span class="status" style="background:{colour};color:{ink}">{esc(status)}</span>'


def _output(result: GamedayResult, step: StepRun) -> str:
    out = plain(result, strip_progress_meter(step.stdout))
    err = plain(result, strip_progress_meter(step.stderr))
    pieces = [excerpt(out, 3, 140), excerpt(err, 2, 140)]
    if step.exit_code not in (0, None):
        pieces.reverse()  # the error first when the step failed
    short = "\n".join(p for p in pieces if p)
    if not short:
        return DASH
    full = out.rstrip() + (("\n--- stderr ---\n" + err.rstrip()) if err.strip() else "")
    cell = f"<pre>{esc(short)}</pre>"
    if len(full.splitlines()) > len(short.splitlines()):
        cell += (
            f"<details><summary>whole output ({len(full.splitlines())} lines)</summary>"
            f"<pre>{esc(full)}</pre></details>"
        )
    return cell


_STEP_HEAD = (
    "<tr><th class='c-phase'>phase</th><th class='c-line'>line</th><th>command</th>"
    "<th class='c-status'>status</th><th class='c-exit'>exit</th>"
    "<th>output (last lines)</th><th class='c-time'>took</th></tr>"
)


def _step_row(result: GamedayResult, s: StepRun, destroyer: int | None) -> str:
    command = (
        f"<code>{esc(command_text(s.command))}</code>"
        if s.command
        else f'<span class="muted"># {esc(s.comment)}</span>'
    )
    status = step_status(result, s)
    extra = f'<div class="muted small">{esc(s.manual_reason)}</div>' if s.manual_reason else ""
    if s.phase == "resolve" and s.line == destroyer:
        extra += '<div class="destroyed">destroyed acknowledged data</div>'
    exit_text = "-" if s.exit_code is None else str(s.exit_code)
    if s.baseline_exit is not None:
        exit_text += f' <span class="muted">(healthy {s.baseline_exit})</span>'
    if s.detected:
        exit_text += "<br><strong>detected</strong>"
    return (
        f'<tr class="gd-step gd-step-{esc(status.replace(" ", "-"))}">'
        f"<td>{esc(s.phase)}</td><td class='num'>{s.line}</td><td>{command}</td>"
        f"<td>{_status_html(status)}{extra}</td><td class='num'>{exit_text}</td>"
        f"<td>{_output(result, s)}</td><td class='num'>{esc(seconds(s.duration))}</td></tr>"
    )


def steps_html(result: GamedayResult) -> str:
    """The steps run against the incident, then (folded) the runs on the healthy stack."""
    destroyer = destroyed_line(result)
    incident = [_step_row(result, s, destroyer) for s in result.steps if s.phase != "steady-state"]
    healthy = [_step_row(result, s, destroyer) for s in result.steps if s.phase == "steady-state"]
    if not incident:
        incident.append('<tr><td colspan="7" class="muted">no runbook step ran</td></tr>')
    out = f'<table class="steps gd-steps">{_STEP_HEAD}{"".join(incident)}</table>'
    if healthy:
        out += (
            f"<details><summary>the {len(healthy)} runs on the healthy stack before the fault "
            f'(the negative control)</summary><table class="steps gd-steps-healthy">'
            f"{_STEP_HEAD}{''.join(healthy)}</table></details>"
        )
    return out


def gameday_html(result: GamedayResult, recorded: Recorded | None = None) -> str:
    """The whole block; its details are collapsed when the gameday went as expected."""
    word = expectation_word(result, recorded)
    title = f"{result.scenario} — {result.title}"
    lead = (
        reason_html(result, result.reason)
        if result.reason
        else (f'<p class="reason gd-reason">{esc(_no_reason(result))}</p>')
    )
    open_attr = "" if word == "as expected" else " open"
    return (
        f'<section class="gameday gd-result" id="{esc(anchor(result))}" '
        f'style="border-left-color:{VERDICT_COLOURS.get(result.verdict.value, "#9e9e9e")}" '
        f'data-scenario="{esc(result.scenario)}" data-verdict="{esc(result.verdict.value)}" '
        f'data-word="{esc(word)}">'
        f"<h3>{badge(result.verdict.value)} {esc(title)} "
        f'<span class="muted">· {esc(runbook_stem(result.runbook))}</span> {word_html(word)}'
        f' <span class="figures">{esc(figures(result))}</span></h3>'
        f"{lead}{second_finding_html(result)}{unchecked_html(result)}"
        f"<details{open_attr}><summary>the {len(result.steps)} runbook steps, the timeline "
        f"and the facts</summary>{steps_html(result)}"
        f'<div class="timeline">{timeline_svg(result)}</div>'
        f"{facts_html(result)}</details></section>"
    )
