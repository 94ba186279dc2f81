"""Post-incident review of one gameday, in the runbook's own template.

The template is the ```markdown block of the runbook's "Post-Incident Review" section
(`# Template: docs/post-incident-reports/YYYY-MM-DD-{incident-id}.md`). It is filled
section by section, keeping its headings, its `- **Field**: value` lines and its
timeline table header, so a change to the template shows up in the next review:

* `- **Field**: {placeholder}` lines get the value known for that field name (Date,
  Duration, Severity, Incident Commander, Users Affected, Requests Failed, ...); a field
  a gameday cannot know says so ("n/a in a gameday") instead of keeping the placeholder.
* Sections are recognised by their heading (Summary, Impact, Timeline, Root Cause,
  Resolution, Lessons Learned with What Went Well / What Could Be Improved, Action
  Items, Follow-up). A heading the harness does not know keeps the template's text.

When the runbook has no such template (or cannot be read), `DEFAULT_TEMPLATE` (the
runbook's template as shipped) is used and the review says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from harness.reports._format import (
    VERDICT_MEANINGS,
    command_text,
    incident_end,
    is_baseline_failing,
    md_cell,
    md_code,
    seconds,
    shown,
)
from harness.reports._humanize import sentence
from harness.reports.json_results import Run, write_atomic
from harness.reports.registry import register_report
from harness.reports.review_deployment import deployment_section
from harness.reports.review_template import (
    COMMANDER,
    DEFAULT_TEMPLATE,
    NOT_APPLICABLE,
    _start,
    incident_id,
    load_template,
    review_filename,
    template_from_runbook,
)
from harness.result import GamedayResult, StepRun, StepStatus, Verdict

_FIELD = re.compile(r"^(?P<lead>\s*[-*]\s+\*\*(?P<name>[^*]+)\*\*:\s*)(?P<value>.*)$")
_PLAIN_FIELD = re.compile(r"^(?P<lead>\s*[-*]\s+(?P<name>[A-Z][\w ]+):\s*)(?P<value>\{.*)$")


def _wall(result: GamedayResult, t: float) -> str:
    """A point of the gameday clock as wall-clock time, as precise as the recorded start
    (`started_at` in whole seconds gives whole seconds; the offset from t0 is exact)."""
    when = _start(result) + timedelta(seconds=t)
    if "." in result.started_at:
        return when.strftime("%H:%M:%S.%f")[:-3]
    return when.strftime("%H:%M:%S")


def _rel(result: GamedayResult, t: float) -> str:
    if result.t0 is None:
        return f"t={t:.2f} s"
    d = t - result.t0
    return "t0" if abs(d) < 0.0005 else f"t0{'+' if d > 0 else '−'}{seconds(abs(d))}"


class _Facts:
    """Everything the review says, computed once from the record."""

    def __init__(self, result: GamedayResult) -> None:
        r = self.r = result
        self.ran = [s for s in r.steps if s.status not in (StepStatus.MANUAL, StepStatus.SKIPPED)]
        self.resolution = [s for s in r.steps if s.phase == "resolve"]
        # A detection step that fails is doing its job; a resolution step that fails, or any
        # step the harness had to cut off, is something to improve.
        self.failed = [
            s
            for s in r.steps
            if s.status == StepStatus.TIMED_OUT
            or (s.phase == "resolve" and s.status == StepStatus.FAILED)
        ]
        seen: set[int] = set()
        self.manual = []
        for s in r.steps:
            if s.status == StepStatus.MANUAL and s.line not in seen:
                seen.add(s.line)
                self.manual.append(s)
        # A step failing on the healthy stack is credited with nothing, detection included.
        self.detector = next(
            (s for s in r.steps if s.detected and not is_baseline_failing(r, s)), None
        )
        self.baseline_failing: list[StepRun] = []
        for s in r.steps:
            if is_baseline_failing(r, s) and all(b.line != s.line for b in self.baseline_failing):
                self.baseline_failing.append(s)
        # Resolution steps are credited only when they are what recovered the service.
        self.credited = r.verdict == Verdict.RECOVERED
        # The reason and the second finding are said once, in the Summary; elsewhere the
        # review names the verdict and points there.
        self.reason = sentence(r, r.reason)
        finding = r.resolution_finding
        self.finding = None if finding is None else finding.verdict.value
        self.finding_reason = [] if finding is None else sentence(r, finding.reason)

    def field(self, name: str) -> str | None:
        r, imp = self.r, self.r.impact
        key = name.strip().lower()
        start = _start(r)
        if key == "date":
            return start.strftime("%Y-%m-%d")
        if key == "duration":
            if r.t0 is None:
                return (
                    f"no fault was injected ({r.verdict.value}); the gameday took "
                    f"{seconds(r.duration_s)}"
                )
            end_t = incident_end(r) or r.t0
            total = seconds(end_t - r.t0)
            tail = "" if r.ttr_s is not None else ", the service not back when the gameday ended"
            zone = start.strftime("%Z") or "UTC"
            return f"{_wall(r, r.t0)} - {_wall(r, end_t)} {zone} ({total}{tail})"
        if key == "severity":
            return (
                f"SEV-{r.declared_severity} (declared by the runbook; measured impact: "
                f"SEV-{imp.severity})"
            )
        if key in ("incident commander", "commander"):
            return COMMANDER
        if key == "users affected":
            return (
                f"{NOT_APPLICABLE} (synthetic load: {imp.incident_requests} requests during the "
                "incident)"
            )
        if key == "requests failed":
            ratio = (
                f" ({imp.incident_failed / imp.incident_requests:.0%})"
                if imp.incident_requests
                else ""
            )
            return (
                f"{imp.incident_failed} of {imp.incident_requests} during the incident{ratio}; "
                f"{imp.failed} of {imp.requests} over the whole gameday; latency p50 "
                f"{_ms(imp.p50_ms)}, p99 {_ms(imp.p99_ms)}"
            )
        if key == "revenue impact":
            return NOT_APPLICABLE
        if key == "monitoring improvements":
            return self.monitoring()
        if key == "process improvements":
            return self.process()
        if key == "technical debt":
            notes = _untold_notes(r)
            return "; ".join(shown(r, n) for n in notes) if notes else "none found by this gameday"
        return None

    def monitoring(self) -> str:
        r = self.r
        parts = []
        if r.verdict == Verdict.UNDETECTED:
            parts.append("a detection step for this fault (see Action Items)")
        if r.noisy_steps or self.baseline_failing:
            parts.append("detection steps that can fail only on a fault (see Action Items)")
        # (What detected the fault is credited under What Went Well, not repeated here.)
        return "; ".join(parts) or "none"

    def process(self) -> str:
        if not self.manual:
            return "every step of the section ran unattended"
        return (
            f"{len(self.manual)} step(s) need a person or a tool the stack lacks: "
            + ", ".join(f"line {s.line}" for s in self.manual)
            + " (see Action Items)"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _step_text(s: StepRun) -> str:
    return md_code(command_text(s.command)) if s.command else f"# {md_cell(s.comment)}"


def _meaning(verdict: Verdict, said: str = "") -> str:
    """What the verdict means where its name would mislead, unless the text already says it."""
    meaning = VERDICT_MEANINGS.get(verdict.value, "")
    if not meaning or meaning.split(";")[0].split(" once")[0].lower() in said.lower():
        return ""
    return f" ({meaning})"


def _said_once(label: str, verdict: Verdict, clauses: list[str]) -> list[str]:
    """`- **label**: verdict — first clause`, the other clauses as sub-items: the one place
    the review gives a reason in full."""
    said = " ".join(clauses)
    head = f"- **{label}**: **{verdict.value}**{_meaning(verdict, said)}"
    if clauses:
        head += f" — {clauses[0]}"
    return [head, *(f"  - {c}" for c in clauses[1:])]


# Event kinds as the timeline's "Event" column says them; an unknown kind is put in words.
EVENT_NAMES = {
    "up": "Stack up",
    "steady-state": "Steady state checked",
    "baseline": "Negative control",
    "inject": "Fault injected",
    "fault-confirmed": "Fault confirmed",
    "detected": "Incident detected",
    "declared": "Incident declared by its impact",
    "lift": "External cause lifted",
    "recovery-seen": "Steady state seen",
    "fault-check": "Fault checked",
    "recovered": "Service restored, recovery confirmed",
    "held": "Steady state held for the hold window (not a recovery: see the verdict)",
    "verdict": "Verdict",
    "data-destroyed": "Acknowledged data destroyed",
    "verify-ended": "Verify window ended early",
}


def event_name(kind: str) -> str:
    return EVENT_NAMES.get(kind) or kind.replace("-", " ").replace("_", " ").capitalize()


def _untold_notes(r: GamedayResult) -> list[str]:
    """Notes that no timeline event already tells (a verify window ended early is both)."""
    told = {e.detail.split(": ", 1)[-1] for e in r.events}
    return [n for n in r.notes if n.split(": ", 1)[-1] not in told]


def _timeline(f: _Facts) -> list[str]:
    """Rows (Time | Event | Action Taken) from the events and the steps run after t0."""
    r = f.r
    rows: list[tuple[float, int, str, str]] = []
    for i, ev in enumerate(r.events):
        if ev.kind == "step":
            continue  # the step rows below say the same, with the command
        line = re.search(r"\bline (\d+)", ev.detail)
        by_line = f"by runbook line {line.group(1)}" if line else ev.detail
        action = {
            "inject": f"{r.fault}: {ev.detail}",
            "detected": by_line,
            "data-destroyed": by_line,
            "recovered": f"harness probes: {ev.detail}",
            # Said in full once (Summary; Root Cause for the fault's state).
            "verdict": f"{r.verdict.value} (see Summary)",
            "fault-check": "see Root Cause",
        }.get(ev.kind, ev.detail)
        # t0 is when the fault went in; the inject event is logged a moment later.
        t = r.t0 if ev.kind == "inject" and r.t0 is not None else ev.t
        rows.append((t, i, event_name(ev.kind), shown(r, action)))
    for j, s in enumerate(r.steps):
        if s.phase == "steady-state":
            continue
        outcome = s.status.value + (f", exit {s.exit_code}" if s.exit_code is not None else "")
        event = f"Runbook line {s.line} ({s.phase}): {outcome}"
        if is_baseline_failing(r, s):
            event += ", failing at baseline (fails on the healthy stack too)"
        elif s.detected:
            event += ", showed the fault"
        # A manual step's reason is given once, in its action item.
        rows.append((s.started, 1000 + j, event, _step_text(s)))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [
        f"| {_wall(r, t)} ({md_cell(_rel(r, t))}) | {md_cell(ev)} | {md_cell(action)} |"
        for t, _, ev, action in rows
    ]


def _root_cause(f: _Facts) -> list[str]:
    r = f.r
    check = r.fault_check
    if not check.checked:
        state = "The harness has no check of whether this fault was still in effect."
    else:
        state = (
            "When recovery was judged the fault was "
            + ("**still present**" if check.present else "gone")
            + (f": {shown(r, check.evidence)}" if check.evidence else "")
            + "."
        )
    return [
        r.fault_description,
        "",
        f"Injected on purpose by the gameday harness: scenario {md_code(r.scenario)} "
        f"({r.title}), fault {md_code(r.fault)}, answered by the runbook section "
        f'"{r.section}" of {md_code(r.runbook)}.',
        "",
        state,
    ]


def _resolution(f: _Facts) -> list[str]:
    r = f.r
    out = []
    for s in f.resolution:
        if s.status == StepStatus.MANUAL:
            out.append(f"- Line {s.line}: {_step_text(s)} — manual, not run (see Action Items)")
            continue
        outcome = s.status.value + (f", exit {s.exit_code}" if s.exit_code is not None else "")
        out.append(f"- Line {s.line}: {_step_text(s)} — {outcome}, {seconds(s.duration)}")
    if not out:
        out.append("- No resolution step ran.")
    out.append("")
    if r.ttr_s is not None and r.verdict == Verdict.RECOVERED_AFTER_LIFT:
        out.append(
            f"The service came back {seconds(r.ttr_s)} after the fault, only once the fault "
            "was lifted: the runbook's steps did not restore it (Summary says why)."
        )
    elif r.ttr_s is not None:
        within = "within" if r.ttr_s <= r.budget_s else "over"
        out.append(
            f"Service restored {seconds(r.ttr_s)} after the fault (TTR), {within} the "
            f"SEV-{r.declared_severity} budget of {seconds(r.budget_s)}."
        )
    else:
        out.append(f"The service was not restored: {r.verdict.value} (Summary says why).")
    if r.recovery_confirmed_s is not None:
        out.append(
            f"Recovery confirmed {seconds(r.recovery_confirmed_s)} after the fault, once steady "
            f"state had held {seconds(r.hold_s)} under load with no restart."
        )
    if f.finding is not None:
        out += [
            "",
            "Detection missed the incident, so it was declared by its impact and the steps "
            f"above still ran; they ended **{f.finding}** (the second finding in the Summary).",
        ]
    return out


def _went_well(f: _Facts) -> list[str]:
    r = f.r
    out = []
    if f.detector is not None and r.ttd_s is not None:
        out.append(
            f"- Detected in {seconds(r.ttd_s)} by runbook line {f.detector.line} "
            f"{_step_text(f.detector)}"
        )
    if f.credited and r.ttr_s is not None and r.ttr_s <= r.budget_s:
        out.append(
            f"- Recovered within the SEV-{r.declared_severity} budget "
            f"({seconds(r.ttr_s)} of {seconds(r.budget_s)})"
        )
    # Steps that ran without error but did not bring the service back made no difference.
    ok = [s for s in f.resolution if s.status == StepStatus.OK] if f.credited else []
    if ok:
        out.append(
            f"- {len(ok)} of {len(f.resolution)} resolution step(s) ran as written and succeeded"
        )
    if r.ledger.acknowledged and not r.ledger.lost:
        out.append(
            f"- No acknowledged data lost ({r.ledger.verified} of {r.ledger.acknowledged} "
            "writes read back)"
        )
    return out or ["- Nothing this gameday can credit"]


# What each failing verdict means for the runbook, in a line (the reason is in the Summary).
_VERDICT_LESSON = {
    Verdict.UNDETECTED: "No detection step of the section noticed the fault",
    Verdict.NOT_RECOVERED: "The resolution steps did not bring the service back",
    Verdict.RECOVERED_AFTER_LIFT: "The service came back only once the fault was lifted",
    Verdict.SLOW: "Recovered, but over the SEV budget",
    Verdict.DATA_LOSS: "A step destroyed acknowledged data",
    Verdict.ABORTED: "The stack never reached steady state: nothing was tested",
}


def _improve(f: _Facts) -> list[str]:
    """One headline per problem; its evidence is in the Summary, each fix in Action Items."""
    r = f.r
    out = []
    if r.verdict in _VERDICT_LESSON:
        out.append(f"- {_VERDICT_LESSON[r.verdict]} ({r.verdict.value})")
    finding = r.resolution_finding
    if finding is not None and finding.verdict in _VERDICT_LESSON:
        out.append(
            f"- Once the incident was declared: {_VERDICT_LESSON[finding.verdict].lower()} "
            f"({finding.verdict.value})"
        )
    if f.baseline_failing or r.noisy_steps:
        out.append("- Detection steps that fail, or flip, on a healthy stack")
    if f.failed:
        out.append(f"- {len(f.failed)} step(s) failed or were cut off")
    if f.manual:
        out.append(f"- {len(f.manual)} step(s) cannot run unattended")
    return out or ["- Nothing found by this gameday"]


def _actions(f: _Facts, shape: str) -> list[str]:
    """Action items in the template's own line shape (`- [ ] {Action} - Assigned to ...`)."""
    r = f.r
    actions = []
    if r.verdict == Verdict.UNDETECTED:
        actions.append(
            f'Give the runbook section "{r.section}" a detection step that notices this fault'
        )
    elif r.verdict != Verdict.RECOVERED:
        actions.append(
            f'Fix the runbook section "{r.section}" so its steps recover the service '
            f"(now {r.verdict.value})"
        )
    finding = r.resolution_finding
    if finding is not None and finding.verdict != Verdict.RECOVERED:
        actions.append(
            f'Fix the resolution steps of "{r.section}" (once the incident was declared they '
            f"gave {finding.verdict.value})"
        )
    for s in f.baseline_failing:
        actions.append(
            f"Fix line {s.line} {_step_text(s)}: it fails on a healthy stack"
            + (f" (exit {s.exit_code})" if s.exit_code is not None else "")
            + ", so it can never detect the fault"
        )
    for s in f.failed:
        did = (
            "was cut off after " + seconds(s.duration)
            if s.status == StepStatus.TIMED_OUT
            else f"exited {s.exit_code}"
        )
        actions.append(f"Fix line {s.line} {_step_text(s)} ({s.phase}): it {did}")
    for s in f.manual:
        actions.append(f"Automate or replace line {s.line} {_step_text(s)} ({s.manual_reason})")
    for n in r.noisy_steps:
        actions.append(
            f"Make the detection step {md_code(command_text(n))} deterministic on a healthy stack"
        )
    m = re.search(r"^\s*[-*]\s+\[ \]\s*(\{[^}]*\})(?P<rest>.*)$", shape, re.MULTILINE)
    rest = m.group("rest") if m else ""
    rest = rest.replace("{Person}", "runbook owners").replace("{Date}", "next gameday")
    rest = re.sub(r"\{[^}]*\}", NOT_APPLICABLE, rest)
    return [f"- [ ] {a}{rest}" for a in actions] or ["- [ ] None: the runbook did what it says"]


def _summary_lines(f: _Facts) -> list[str]:
    """The verdict, its reason and the second finding's: said here, and only here, in full."""
    r = f.r
    out = _said_once("Gameday verdict", r.verdict, f.reason)
    finding = r.resolution_finding
    if finding is not None:
        out += _said_once("Second finding (resolution)", finding.verdict, f.finding_reason)
    out.append(
        f"- **TTD / TTR**: {seconds(r.ttd_s)} / {seconds(r.ttr_s)} "
        f"(budget {seconds(r.budget_s)}, backend {r.backend})"
    )
    if r.unchecked:
        out.append("- **Not checked**: " + "; ".join(shown(r, u) for u in r.unchecked))
    return [*out, ""]


def render_review(
    result: GamedayResult,
    template: str = DEFAULT_TEMPLATE,
    template_source: str = "",
    deployment: list[str] = (),  # type: ignore[assignment]
) -> str:
    """The review as Markdown, in the template's shape."""
    f = _Facts(result)
    lines = template.strip("\n").splitlines()
    if lines and re.match(r"^#\s*Template:", lines[0]):
        lines = lines[1:]  # the template's note on where to file it, not part of the review
    while lines and not lines[0].strip():
        lines = lines[1:]
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in lines:
        if line.startswith("## "):
            sections.append((line, []))
        else:
            sections[-1][1].append(line)

    fillers: dict[str, Callable[[_Facts, list[str]], list[str]]] = {
        "root cause": lambda facts, _body: _root_cause(facts),
        "resolution": lambda facts, _body: _resolution(facts),
        "action items": lambda facts, body: _actions(facts, "\n".join(body)),
        "timeline": _fill_timeline,
        "lessons learned": _fill_lessons,
    }
    out: list[str] = []
    for heading, body in sections:
        name = heading[3:].strip().lower()
        if heading:
            out.append(heading)
        if name in fillers:
            out += fillers[name](f, body)
            if out and out[-1].strip():
                out.append("")
        else:
            out += [_fill_line(line, f) for line in body]
        if name == "summary":
            while out and not out[-1].strip():
                out.pop()
            out += _summary_lines(f)
    text = "\n".join([*out, "", *deployment]).rstrip() + "\n"
    source = template_source or "the runbook's Post-Incident Review template"
    return text + (
        f"\n<!-- Generated by the gameday harness from the GamedayResult of "
        f"{result.scenario} ({result.started_at}); template: {source}. -->\n"
    )


def _fill_line(line: str, f: _Facts) -> str:
    if line.lstrip().startswith("# Post-Incident Review"):
        return line.replace("{Incident Title}", f"{f.r.title} (gameday {f.r.scenario})")
    m = _FIELD.match(line) or _PLAIN_FIELD.match(line)
    if m:
        value = f.field(m.group("name"))
        if value is not None:
            return m.group("lead") + value
        if "{" in m.group("value"):
            return m.group("lead") + NOT_APPLICABLE
        return line
    if re.fullmatch(r"\s*\{[^}]*\}\s*", line):
        return NOT_APPLICABLE
    return line


def _fill_timeline(f: _Facts, body: list[str]) -> list[str]:
    table = [ln for ln in body if ln.strip().startswith("|")]
    header = (
        table[:2]
        if len(table) >= 2
        else ["| Time | Event | Action Taken |", "|------|-------|--------------|"]
    )
    before = [ln for ln in body if not ln.strip().startswith("|")]
    return [*[ln for ln in before if ln.strip()], *header, *_timeline(f), ""]


def _fill_lessons(f: _Facts, body: list[str]) -> list[str]:
    out: list[str] = []
    for line in body:
        if line.startswith("### "):
            out.append(line)
            title = line[4:].strip().lower()
            if "well" in title:
                out += _went_well(f) + [""]
            elif "improve" in title:
                out += _improve(f) + [""]
        elif not line.strip().startswith(("-", "*")) and line.strip():
            out.append(_fill_line(line, f))
    return out


__all__ = [
    "COMMANDER",
    "DEFAULT_TEMPLATE",
    "NOT_APPLICABLE",
    "incident_id",
    "load_template",
    "render_review",
    "render_reviews",
    "review_filename",
    "template_from_runbook",
    "write_reviews",
]


def write_reviews(
    results: list[GamedayResult],
    out_dir: str | Path,
    runbook_override: str | Path | None = None,
    run: Run | None = None,
) -> list[Path]:
    """One review file per result, named by the template's pattern; returns the paths."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    cache: dict[str, tuple[str, str]] = {}
    written = []
    for result in results:
        source = str(runbook_override or result.runbook)
        if source not in cache:
            cache[source] = load_template(source)
        template, where = cache[source]
        path = target / review_filename(result, template)
        against = (
            deployment_section(result, run.info.drift, run.info.stand_ins) if run else []
        )
        written.append(write_atomic(path, render_review(result, template, where, against)))
    return written


@register_report(
    "reviews",
    option="--reviews",
    default="reviews",
    help="a directory of post-incident reviews, one per gameday, in the runbook's template",
)
def render_reviews(run: Run, target: Path) -> list[Path]:
    """Each review written whole (temp file + rename) or not at all."""
    return write_reviews(run.results, target, run=run)
