"""Views of a mutation run's record: the terminal table, the score line, the Markdown
report (linear renderers)."""

from __future__ import annotations

from harness.trust.mutate.classify import seconds
from harness.trust.mutate.derive import first_line
from harness.trust.mutate.record import MutationReport


def table(report: MutationReport) -> str:
    rows = [f"{'mutant':<26} {'status':<9} {'scenario verdicts (unmutated → mutant)'}"]
    for r in report.results:
        cells = "; ".join(
            f"{o.scenario} {o.original_verdict}→{o.verdict}" + (" ✗" if o.killed else "")
            for o in r.outcomes
        )
        rows.append(f"{r.mutant.id:<26} {r.status:<9} {cells or r.note}")
    return "\n".join(rows)


def score_line(report: MutationReport) -> str:
    killed, survived = len(report.killed), len(report.survived)
    equivalent = len(report.equivalent)
    pk, pairs = report.pair_score()
    score = report.score
    text = (
        f"mutation score: {killed}/{killed + survived - equivalent}"
        + (f" = {score:.0%}" if score is not None else "")
        + f" killed ({equivalent} equivalent survivors not counted; "
        f"{pk}/{pairs} mutant×scenario runs)"
    )
    skipped = report.total_mutants - len(report.results)
    if skipped > 0:
        text += f"; {skipped} of {report.total_mutants} mutants not run (--max-mutants)"
    return text


def to_markdown(report: MutationReport, title: str = "Runbook mutation report") -> str:
    score = report.score
    killed, survived = len(report.killed), len(report.survived)
    equivalent = len(report.equivalent)
    pk, pairs = report.pair_score()
    out = [
        f"# {title}",
        "",
        f"`gameday mutate --runbook {report.runbook}` on the {report.backend} backend, "
        f"started {report.started_at}, {report.duration_s / 60:.0f} min"
        + ("" if report.finished else " (**interrupted: partial results**)")
        + ".",
        "",
        "A mutant is the runbook's text with one step changed (deleted, reordered, pointed at "
        "the wrong service; detection steps weakened). It is **killed** when a scenario that "
        "exercises the step gives another verdict than on the unmutated runbook; a "
        "**survivor** is a runbook step the gameday does not really check.",
        "",
        f"**Mutation score: {killed}/{killed + survived - equivalent}"
        + (f" = {score:.0%}" if score is not None else "")
        + f"** of the non-equivalent mutants ({equivalent} survivors are equivalent: each "
        "outcome has a one-line reason why the verdict cannot depend on the change; "
        f"{pk}/{pairs} mutant × scenario runs changed the verdict; "
        f"{sum(r.status == 'invalid' for r in report.results)} invalid, "
        f"{sum(r.status == 'error' for r in report.results)} errors).",
        "",
        "## Unmutated runbook",
        "",
        "| scenario | verdict | detected by | TTD | TTR | duration |",
        "|---|---|---|---|---|---|",
    ]
    return (
        "\n".join([*out, *_originals(report), *_survivors(report), *_every_mutant(report)]) + "\n"
    )


def _originals(report: MutationReport) -> list[str]:
    out = []
    for orig in report.originals.values():
        out.append(
            f"| {orig.scenario} | {orig.verdict} | "
            + (f"line {orig.detected_line}" if orig.detected_line else "-")
            + f" | {seconds(orig.ttd_s)} | {seconds(orig.ttr_s)} | {orig.duration_s:.1f}s |"
        )
    by_op: dict[str, list[int]] = {}
    for r in report.results:
        if r.status in ("killed", "survived"):
            counts = by_op.setdefault(r.mutant.operator, [0, 0])
            counts[0 if r.status == "killed" else 1] += 1
    out += [
        "",
        "## Score by mutation operator",
        "",
        "| operator | killed | survived |",
        "|---|---|---|",
    ]
    out += [f"| {op} | {k} | {s} |" for op, (k, s) in sorted(by_op.items())]
    return out


def _survivors(report: MutationReport) -> list[str]:
    out = ["", "## Survivors", ""]
    if not report.survived:
        out.append("None.")
    for r in report.survived:
        m = r.mutant
        out += [
            f"### {m.id}: line {m.line} ({m.section}, {m.role})",
            "",
            f"- step: `{first_line(m.command)}`",
            f"- mutation ({m.operator}): {m.description}",
        ]
        for o in r.outcomes:
            out.append(f"- **{o.scenario}** ({o.verdict} as before): {o.why}")
        out.append("")
    partial = [(r, o) for r in report.killed for o in r.outcomes if not o.killed]
    if partial:
        out += [
            "## Killed mutants that some scenario did not notice",
            "",
            "The mutant changed another scenario's verdict, but not these ones':",
            "",
        ]
        for r, o in partial:
            out.append(
                f"- **{r.mutant.id}** (line {r.mutant.line}, {r.mutant.description}) on "
                f"**{o.scenario}** ({o.verdict} as before): {o.why}"
            )
        out.append("")
    return out


def _every_mutant(report: MutationReport) -> list[str]:
    out = [
        "## Every mutant",
        "",
        "| mutant | line | operator | mutation | status | verdicts |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        cells = "<br>".join(f"{o.scenario}: {o.original_verdict} → {o.verdict}" for o in r.outcomes)
        out.append(
            f"| {r.mutant.id} | {r.mutant.line} | {r.mutant.operator} | "
            f"{_cell(r.mutant.description)} | {r.status} | {_cell(cells or r.note)} |"
        )
    killed_rows = [(r, o) for r in report.killed for o in r.outcomes if o.killed]
    if killed_rows:
        out += [
            "",
            "## How each mutant was killed",
            "",
            "| mutant | scenario | change |",
            "|---|---|---|",
        ]
        out += [f"| {r.mutant.id} | {o.scenario} | {_cell(o.why[:220])} |" for r, o in killed_rows]
    if report.untouched:
        out += [
            "",
            "## Steps not mutated",
            "",
            "| line | section | step | why |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {u.line} | {u.section} | {_cell(first_line(u.command))} | {_cell(u.reason)} |"
            for u in report.untouched
        ]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
