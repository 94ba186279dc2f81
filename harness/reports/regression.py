"""Regression report: what changed between two gameday runs, in the runbook's terms.

Compares an old and a new run (two results.json files, or a runbook baseline file
`<runbook>.baseline.json` and a run) scenario by scenario, a scenario being the pair
(scenario id, runbook file stem):

* verdicts: *regressed* (was recovered, now not; or got worse, e.g. slow → not-recovered),
  *fixed* (now recovered), *improved* (better but not recovered), *changed* (different,
  neither better nor worse: undetected ↔ not-recovered); a scenario run on one side only
  (*new* / *missing*) is *not compared*, never a regression;
* TTD and TTR changes beyond noise. Noise is max(3 × poll interval, 20 % of the old
  value): the runner polls detection and recovery every poll interval, so a difference of
  a few polls is the clock's resolution, and a 20 % swing is ordinary run-to-run variance
  on a shared CI machine. Only a change strictly larger than the noise is reported;
* steps whose outcome changed: status or exit code, by (scenario, phase, runbook line);
* second findings (what the resolution achieved after a missed detection) that changed,
  classified like verdicts: an undetected incident whose resolution stopped recovering
  is a regression even though the verdict stayed `undetected`.

Runbooks are paired by file stem. When each side ran exactly one runbook and their stems
differ (the shipped runbook against an edited copy), the two are paired; `pairs` (from
`--pair OLD=NEW`) pairs them explicitly. A pair is compared under the old side's stem.

A baseline file only records verdicts (and, for an undetected incident, the second
finding's verdict), so against one only those are compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import BadInput
from harness.reports._format import VERDICT_COLOURS, esc, md_cell, md_code, runbook_stem, seconds
from harness.reports.json_results import Run, read_run, run_from_dict
from harness.result import GamedayResult, StepRun, Verdict
from harness.suite.baseline import read_baseline

Key = tuple[str, str]  # (scenario id, runbook file stem)

# Worse is higher. Aborted ranks with the failures: nothing was tested, so nothing passed.
VERDICT_RANK = {
    Verdict.RECOVERED.value: 0,
    Verdict.SLOW.value: 1,
    # The runbook's steps did not restore the service: a failure, however it ended.
    Verdict.RECOVERED_AFTER_LIFT.value: 2,
    Verdict.NOT_RECOVERED.value: 2,
    Verdict.UNDETECTED.value: 2,
    Verdict.ABORTED.value: 2,
    Verdict.DATA_LOSS.value: 3,
}
NOISE_POLLS = 3
NOISE_FRACTION = 0.20


def noise(old: float, poll_interval: float) -> float:
    """The largest TTD/TTR change that is not reported: max(3 × poll, 20 % of old)."""
    return max(NOISE_POLLS * poll_interval, NOISE_FRACTION * abs(old))


@dataclass
class Snapshot:
    """One side of a comparison: a run's results, or a baseline file's verdicts."""

    label: str
    path: str
    verdicts: dict[Key, tuple[str, str]]  # key -> (verdict, reason or why)
    results: dict[Key, GamedayResult] = field(default_factory=dict)
    baseline_findings: dict[Key, tuple[str, str]] = field(default_factory=dict)

    def finding(self, key: Key) -> tuple[str, str] | None:
        """The second finding (resolution after a missed detection): (verdict, reason)."""
        if self.is_baseline:
            return self.baseline_findings.get(key)
        r = self.results.get(key)
        if r is None or r.resolution_finding is None:
            return None
        return r.resolution_finding.verdict.value, r.resolution_finding.reason

    @property
    def is_baseline(self) -> bool:
        return not self.results and bool(self.verdicts)

    @property
    def runbooks(self) -> list[str]:
        return list(dict.fromkeys(stem for _, stem in self.verdicts))

    def renamed(self, stems: dict[str, str]) -> Snapshot:
        """The same snapshot with runbook stems renamed (new stem → old stem)."""

        def key(k: Key) -> Key:
            return (k[0], stems.get(k[1], k[1]))

        return Snapshot(
            self.label,
            self.path,
            {key(k): v for k, v in self.verdicts.items()},
            {key(k): v for k, v in self.results.items()},
            {key(k): v for k, v in self.baseline_findings.items()},
        )

    @classmethod
    def from_run(cls, run: Run, path: str = "") -> Snapshot:
        results = {(r.scenario, runbook_stem(r.runbook)): r for r in run.results}
        return cls(
            run.label,
            path or str(run.path or ""),
            {k: (r.verdict.value, r.reason) for k, r in results.items()},
            results,
        )


def load_snapshot(path: str | Path) -> Snapshot:
    """A results.json (or run directory), or a runbook baseline file ({"scenarios": {...}})."""
    source = Path(path)
    if source.is_file() and source.name.endswith(".baseline.json"):
        return _baseline(source)
    if source.is_file():
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = None  # read_run gives the one-line reason
        if isinstance(data, dict) and "schema_version" not in data and "scenarios" in data:
            return _baseline(source)
        if isinstance(data, dict):
            return Snapshot.from_run(run_from_dict(data, str(source)), str(source))
    return Snapshot.from_run(read_run(source), str(source))


def _baseline(path: Path) -> Snapshot:
    stem = path.name.removesuffix(".baseline.json")
    verdicts: dict[Key, tuple[str, str]] = {}
    findings: dict[Key, tuple[str, str]] = {}
    for scenario, expected in read_baseline(path).items():
        verdicts[(scenario, stem)] = (expected.verdict, expected.why)
        if expected.resolution is not None:
            findings[(scenario, stem)] = (expected.resolution, expected.why)
    return Snapshot(f"baseline {path.name}", str(path), verdicts, baseline_findings=findings)


@dataclass
class VerdictChange:
    key: Key
    old: str | None  # None: the scenario did not run on that side
    new: str | None
    kind: str  # regressed | fixed | improved | changed | new | missing
    reason: str = ""  # the new side's reason (or the old one's, for a missing scenario)


@dataclass
class TimingChange:
    key: Key
    metric: str  # "TTD" | "TTR"
    old: float
    new: float
    noise: float

    @property
    def slower(self) -> bool:
        return self.new > self.old


@dataclass
class StepChange:
    key: Key
    phase: str
    line: int
    command: str
    old: str  # "ok (exit 0)", "failed (exit 7)", "not run"
    new: str


@dataclass
class Comparison:
    old: Snapshot
    new: Snapshot
    verdicts: list[VerdictChange]
    timings: list[TimingChange]
    steps: list[StepChange]
    compared: int  # scenarios present on both sides
    # Second findings that changed, where both sides are runs (None: none on that side).
    findings: list[VerdictChange] = field(default_factory=list)

    pairs: dict[str, str] = field(default_factory=dict)  # old runbook stem → new stem

    @property
    def regressed(self) -> list[VerdictChange]:
        # A second finding that went away means detection caught up: not a regression. A
        # scenario run on one side only is not compared at all.
        return [v for v in self.verdicts if v.kind == "regressed"] + [
            f for f in self.findings if f.kind == "regressed"
        ]

    @property
    def not_compared(self) -> list[VerdictChange]:
        return [v for v in self.verdicts if v.kind in NOT_COMPARED]


NOT_COMPARED = ("new", "missing")  # run on one side only


def pair_runbooks(
    old: Snapshot, new: Snapshot, pairs: dict[str, str] | None = None
) -> dict[str, str]:
    """old stem → new stem: the explicit pairs, else the two runbooks when each side ran one
    and their stems differ. A stem named in a pair must have run on its side (BadInput)."""
    if pairs:
        for o, n in pairs.items():
            for stem, side, snap in ((o, "old", old), (n, "new", new)):
                if stem not in snap.runbooks:
                    raise BadInput(
                        f"--pair {o}={n}: no runbook {stem!r} in the {side} run "
                        f"({', '.join(snap.runbooks) or 'none'})"
                    )
        return dict(pairs)
    if len(old.runbooks) == 1 and len(new.runbooks) == 1 and old.runbooks != new.runbooks:
        return {old.runbooks[0]: new.runbooks[0]}
    return {}


def parse_pairs(values: list[str] | None) -> dict[str, str]:
    """`--pair OLD=NEW` (runbook file names or stems), repeatable."""
    out: dict[str, str] = {}
    for value in values or []:
        o, sep, n = value.partition("=")
        if not sep or not o.strip() or not n.strip():
            raise BadInput(f"--pair {value!r}: expected OLD=NEW (two runbook names)")
        out[Path(o.strip()).stem] = Path(n.strip()).stem
    return out


def classify(old: str | None, new: str | None) -> str:
    if old is None:
        return "new"
    if new is None:
        return "missing"
    if new == Verdict.RECOVERED.value:
        return "fixed"
    if old == Verdict.RECOVERED.value:
        return "regressed"
    o, n = VERDICT_RANK.get(old, 2), VERDICT_RANK.get(new, 2)
    return "regressed" if n > o else "improved" if n < o else "changed"


def _outcome(step: StepRun | None) -> str:
    if step is None:
        return "not run"
    return step.status.value + (f" (exit {step.exit_code})" if step.exit_code is not None else "")


def compare(old: Snapshot, new: Snapshot, pairs: dict[str, str] | None = None) -> Comparison:
    paired = pair_runbooks(old, new, pairs)
    new = new.renamed({n: o for o, n in paired.items()})
    verdicts: list[VerdictChange] = []
    timings: list[TimingChange] = []
    steps: list[StepChange] = []
    findings: list[VerdictChange] = []
    keys = sorted(set(old.verdicts) | set(new.verdicts))
    compared = 0
    for key in keys:
        o, n = old.verdicts.get(key), new.verdicts.get(key)
        if o and n:
            compared += 1
        if (o and o[0]) != (n and n[0]):
            kind = classify(o[0] if o else None, n[0] if n else None)
            reason = n[1] if n else (o[1] if o else "")
            verdicts.append(
                VerdictChange(key, o[0] if o else None, n[0] if n else None, kind, reason)
            )
        fo, fn = old.finding(key), new.finding(key)
        if o and n and (fo and fo[0]) != (fn and fn[0]):
            findings.append(
                VerdictChange(
                    key,
                    fo[0] if fo else None,
                    fn[0] if fn else None,
                    classify(fo[0] if fo else None, fn[0] if fn else None),
                    (fn or fo or ("", ""))[1],
                )
            )
        ro, rn = old.results.get(key), new.results.get(key)
        if ro is None or rn is None:
            continue
        poll = max(ro.poll_interval_s, rn.poll_interval_s)
        for metric, a, b in (("TTD", ro.ttd_s, rn.ttd_s), ("TTR", ro.ttr_s, rn.ttr_s)):
            if a is not None and b is not None and abs(b - a) > noise(a, poll):
                timings.append(TimingChange(key, metric, a, b, noise(a, poll)))
        old_steps = {(s.phase, s.line): s for s in ro.steps}
        new_steps = {(s.phase, s.line): s for s in rn.steps}
        order = {"steady-state": 0, "detect": 1, "resolve": 2}
        for phase, line in sorted(
            set(old_steps) | set(new_steps), key=lambda pl: (order.get(pl[0], 9), pl[1])
        ):
            so, sn = old_steps.get((phase, line)), new_steps.get((phase, line))
            if (so and (so.status, so.exit_code)) != (sn and (sn.status, sn.exit_code)):
                either = sn or so
                command = either.command if either is not None else ""
                steps.append(StepChange(key, phase, line, command, _outcome(so), _outcome(sn)))
    return Comparison(old, new, verdicts, timings, steps, compared, findings, paired)


# -- rendering -------------------------------------------------------------------------


def _change(t: TimingChange) -> str:
    delta = t.new - t.old
    pct = f", {delta / t.old:+.0%}" if t.old else ""
    return f"{'+' if delta > 0 else '−'}{seconds(abs(delta))}{pct}"


def _finding_note(snapshot: Snapshot, key: Key) -> str:
    finding = snapshot.finding(key)
    return f" (resolution: {finding[0]})" if finding else ""


def headline(c: Comparison) -> str:
    """`13 scenario(s) on both sides; 1 regression(s), 2 fix(es); 3 not compared`."""
    text = (
        f"{c.compared} scenario(s) on both sides; {len(c.regressed)} regression(s), "
        f"{sum(v.kind == 'fixed' for v in c.verdicts)} fix(es)"
    )
    if c.not_compared:
        text += f"; {len(c.not_compared)} not compared (run on one side only)"
    return text


def _runbook(c: Comparison, stem: str) -> str:
    """A runbook as the reader knows it: `old → new` for a paired one."""
    return f"{stem} → {c.pairs[stem]}" if stem in c.pairs else stem


FINDINGS_TITLE = "Second findings (the resolution after a missed detection)"


def to_markdown(c: Comparison) -> str:
    out = [
        "# Gameday regression report",
        "",
        f"- **Old**: {md_cell(c.old.label)} ({md_code(c.old.path)})",
        f"- **New**: {md_cell(c.new.label)} ({md_code(c.new.path)})",
        f"- **Compared**: {headline(c)}",
        *(f"- **Runbooks paired**: {md_code(o)} → {md_code(n)}" for o, n in c.pairs.items()),
        "",
    ]
    out += ["## Verdicts", ""]
    changed = [v for v in c.verdicts if v.kind not in NOT_COMPARED]
    if changed:
        out += ["| scenario | runbook | old | new | change | reason |", "|---|---|---|---|---|---|"]
        out += [
            f"| {md_cell(v.key[0])} | {md_cell(_runbook(c, v.key[1]))} | "
            f"{md_cell((v.old or 'not run') + _finding_note(c.old, v.key))} | "
            f"{md_cell((v.new or 'not run') + _finding_note(c.new, v.key))} | **{v.kind}** | "
            f"{md_cell(v.reason)} |"
            for v in changed
        ]
    else:
        out.append("No verdict changed.")
    if c.not_compared:
        out += ["", "## Not compared (run on one side only)", ""]
        out += ["| scenario | runbook | ran in |", "|---|---|---|"]
        out += [
            f"| {md_cell(v.key[0])} | {md_cell(v.key[1])} | "
            f"{'the new run only' if v.kind == 'new' else 'the old run only'} |"
            for v in c.not_compared
        ]
    if c.findings:
        out += ["", f"## {FINDINGS_TITLE}", ""]
        out += ["| scenario | runbook | old | new | change | reason |", "|---|---|---|---|---|---|"]
        out += [
            f"| {md_cell(v.key[0])} | {md_cell(v.key[1])} | {md_cell(v.old or 'none')} | "
            f"{md_cell(v.new or 'none')} | **{v.kind}** | {md_cell(v.reason)} |"
            for v in c.findings
        ]
    out += [
        "",
        "## TTD and TTR beyond noise",
        "",
        f"Noise is max({NOISE_POLLS} × poll interval, {NOISE_FRACTION:.0%} of the old value).",
        "",
    ]
    if c.old.is_baseline or c.new.is_baseline:
        out.append("Not compared: a baseline file records verdicts only.")
    elif c.timings:
        out += [
            "| scenario | runbook | metric | old | new | change | noise |",
            "|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {md_cell(t.key[0])} | {md_cell(t.key[1])} | {t.metric} | {seconds(t.old)} | "
            f"{seconds(t.new)} | {'slower' if t.slower else 'faster'} {_change(t)} | "
            f"{seconds(t.noise)} |"
            for t in c.timings
        ]
    else:
        out.append("No TTD or TTR change beyond noise.")
    out += ["", "## Steps whose outcome changed", ""]
    if c.old.is_baseline or c.new.is_baseline:
        out.append("Not compared: a baseline file records verdicts only.")
    elif c.steps:
        out += [
            "| scenario | runbook | phase | line | command | old | new |",
            "|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {md_cell(s.key[0])} | {md_cell(s.key[1])} | {s.phase} | {s.line} | "
            f"{md_code(s.command.splitlines()[0] if s.command else '')} | {md_cell(s.old)} | "
            f"{md_cell(s.new)} |"
            for s in c.steps
        ]
    else:
        out.append("No step changed its status or exit code.")
    return "\n".join(out) + "\n"


def _badge(verdict: str | None) -> str:
    if verdict is None:
        return '<span class="muted">not run</span>'
    return (
        f'<span class="badge" style="background:{VERDICT_COLOURS.get(verdict, "#424242")}">'
        f"{esc(verdict)}</span>"
    )


def to_html(c: Comparison) -> str:
    """A standalone HTML page (inline CSS, no script)."""

    def table(head: list[str], rows: list[list[str]], empty: str) -> str:
        if not rows:
            return f'<p class="muted">{esc(empty)}</p>'
        h = "".join(f"<th>{esc(x)}</th>" for x in head)
        b = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
        return f"<table><tr>{h}</tr>{b}</table>"

    baseline = c.old.is_baseline or c.new.is_baseline
    verdict_rows = [
        [
            esc(v.key[0]),
            esc(_runbook(c, v.key[1])),
            _badge(v.old) + esc(_finding_note(c.old, v.key)),
            _badge(v.new) + esc(_finding_note(c.new, v.key)),
            f'<strong class="kind-{esc(v.kind)}">{esc(v.kind)}</strong>',
            esc(v.reason),
        ]
        for v in c.verdicts
        if v.kind not in NOT_COMPARED
    ]
    one_side_rows = [
        [
            esc(v.key[0]),
            esc(v.key[1]),
            esc("the new run only" if v.kind == "new" else "the old run only"),
        ]
        for v in c.not_compared
    ]
    finding_rows = [
        [
            esc(v.key[0]),
            esc(v.key[1]),
            _badge(v.old) if v.old else '<span class="muted">none</span>',
            _badge(v.new) if v.new else '<span class="muted">none</span>',
            f'<strong class="kind-{esc(v.kind)}">{esc(v.kind)}</strong>',
            esc(v.reason),
        ]
        for v in c.findings
    ]
    timing_rows = [
        [
            esc(t.key[0]),
            esc(t.key[1]),
            esc(t.metric),
            esc(seconds(t.old)),
            esc(seconds(t.new)),
            esc(f"{'slower' if t.slower else 'faster'} {_change(t)}"),
            esc(seconds(t.noise)),
        ]
        for t in c.timings
    ]
    step_rows = [
        [
            esc(s.key[0]),
            esc(s.key[1]),
            esc(s.phase),
            str(s.line),
            f"<code>{esc(s.command.splitlines()[0] if s.command else '')}</code>",
            esc(s.old),
            esc(s.new),
        ]
        for s in c.steps
    ]
    not_compared = "Not compared: a baseline file records verdicts only."
    css = (
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;"
        "color:#212121}table{border-collapse:collapse;margin:8px 0 18px}"
        "th,td{border:1px solid #ddd;"
        "padding:4px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5}"
        "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
        ".badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}"
        ".muted{color:#757575}.kind-regressed,.kind-missing{color:#c62828}.kind-fixed{color:#2e7d32}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Gameday regression report</title><style>{css}</style></head><body>"
        "<h1>Gameday regression report</h1>"
        f"<p><strong>Old</strong>: {esc(c.old.label)} <code>{esc(c.old.path)}</code><br>"
        f"<strong>New</strong>: {esc(c.new.label)} <code>{esc(c.new.path)}</code><br>"
        f"{esc(headline(c))}"
        + "".join(
            f"<br><strong>Runbooks paired</strong>: <code>{esc(o)}</code> → <code>{esc(n)}</code>"
            for o, n in c.pairs.items()
        )
        + "</p><h2>Verdicts</h2>"
        + table(
            ["scenario", "runbook", "old", "new", "change", "reason"],
            verdict_rows,
            "No verdict changed.",
        )
        + (
            "<h2>Not compared (run on one side only)</h2>"
            + table(["scenario", "runbook", "ran in"], one_side_rows, "")
            if one_side_rows
            else ""
        )
        + (
            f"<h2>{esc(FINDINGS_TITLE)}</h2>"
            + table(["scenario", "runbook", "old", "new", "change", "reason"], finding_rows, "")
            if finding_rows
            else ""
        )
        + "<h2>TTD and TTR beyond noise</h2>"
        f"<p>Noise is max({NOISE_POLLS} × poll interval, "
        f"{NOISE_FRACTION:.0%} of the old value).</p>"
        + (
            f'<p class="muted">{not_compared}</p>'
            if baseline
            else table(
                ["scenario", "runbook", "metric", "old", "new", "change", "noise"],
                timing_rows,
                "No TTD or TTR change beyond noise.",
            )
        )
        + "<h2>Steps whose outcome changed</h2>"
        + (
            f'<p class="muted">{not_compared}</p>'
            if baseline
            else table(
                ["scenario", "runbook", "phase", "line", "command", "old", "new"],
                step_rows,
                "No step changed its status or exit code.",
            )
        )
        + "</body></html>\n"
    )
