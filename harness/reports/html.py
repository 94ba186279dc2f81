"""`report.html`: the standalone report, rendered from results.json alone (no pytest-html).

    Gameday report: would the runbook work tonight?      run facts (one line)
    ┌ scorecard ─────────────────────────────────────────────────────────────────┐
    │ scenario          │ incident-response          │ incident-response.fixed   │
    │                   │ 3 of 13 recovered; 10 def. │ 10 of 13 recovered; …     │
    │ wont-start-…      │ [data-loss] as expected    │ [recovered] as expected   │
    │ llm-quota         │ [undetected → not-rec.]    │ [recovered]               │
    └────────────────────────────────────────────────────────────────────────────┘
    one block per gameday, worst first (html_gameday.py): the reason in a sentence, what
    was not checked, then (collapsed when it went as expected) steps, timeline, facts
    Drift against the deployment · Stand-ins and why   (when the run record carries them)

One file, inline CSS, no script, so it opens anywhere (a CI artifact, a mail attachment)
and its first screen at 1400 × 900 holds the scorecard and the first failing reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.reports._format import esc, runbook_stem, seconds
from harness.reports.html_gameday import anchor, badge, figures, gameday_html, word_html
from harness.reports.json_results import Run, write_atomic
from harness.reports.registry import register_report
from harness.reports.scorecard import (
    Recorded,
    by_runbook,
    expectation_word,
    scenario_order,
    tonight_line,
    worst_first,
)
from harness.result import GamedayResult

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;
  color:#212121;margin:0;padding:14px 22px;max-width:100%;overflow-x:hidden}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:16px;margin:16px 0 6px}
h3{font-size:14px;margin:0 0 4px;font-weight:600}
.runfacts{color:#616161;font-size:12px;margin:0 0 10px}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:11px}
table{border-collapse:collapse}
th,td{border:1px solid #e0e0e0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}
td.num{text-align:right;white-space:nowrap}
.muted{color:#757575}.small{font-size:11px}
.badge{display:inline-block;padding:0 8px;border-radius:10px;color:#fff;font-weight:600;
  font-size:12px;line-height:18px;white-space:nowrap}
.badge.small{font-size:11px;padding:0 6px;line-height:16px}
.status{display:inline-block;padding:0 6px;border-radius:3px;font-size:11px;white-space:nowrap}
.word{font-size:12px;font-weight:600;white-space:nowrap}
.word-regression{color:#c62828}.word-as-expected{color:#616161}.word-fixed{color:#2e7d32}
table.scorecard{width:100%;table-layout:fixed;margin-bottom:6px}
table.scorecard th.scen{width:250px}
table.scorecard td{padding:2px 6px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table.scorecard td a{color:inherit;text-decoration:none}
table.scorecard .tonight{font-weight:400;font-size:12px;color:#424242;white-space:normal}
table.scorecard td.notrun{color:#bdbdbd}
td.cell .figs{color:#757575;font-size:11px;margin-left:4px}
.gameday{border:1px solid #e0e0e0;border-left:5px solid #9e9e9e;border-radius:4px;
  padding:8px 12px;margin:0 0 10px}
.gameday .figures{white-space:nowrap;font-weight:400;color:#616161;font-size:12px;margin-left:6px}
.reason{margin:4px 0 2px;font-size:14px}
ul.reason-more,ul.finding-more{margin:0 0 4px 20px;padding:0}
.second{margin:4px 0;padding-left:8px;border-left:3px solid #6a1b9a}
.second .label{font-weight:600}
.finding{margin:2px 0;display:inline}
.unchecked{border-left:3px solid #f9a825;background:#fff8e1;padding:2px 10px;margin:6px 0;
  font-size:13px}
.unchecked ul{margin:0 0 2px 18px;padding:0}
details>summary{cursor:pointer;color:#1565c0;margin:4px 0}
table.steps{width:100%;table-layout:fixed;margin:6px 0}
table.steps th.c-phase{width:90px}table.steps th.c-line{width:44px}
table.steps th.c-status{width:140px}table.steps th.c-exit{width:110px}
.destroyed{color:#fff;background:#000;font-size:11px;font-weight:600;padding:0 4px;
  border-radius:3px;display:inline-block;margin-top:2px}
table.steps th.c-time{width:64px}
table.steps td{overflow-wrap:anywhere}
table.facts{margin:6px 0;max-width:100%}table.facts th{width:150px}
.timeline{margin:6px 0;max-width:100%;overflow-x:auto}
.timeline svg{max-width:100%;height:auto}
table.generic{max-width:100%;margin:4px 0}
"""


def _cell(result: GamedayResult | None, recorded: Recorded | None = None) -> str:
    if result is None:
        return '<td class="cell notrun">not run</td>'
    finding = result.resolution_finding
    second = (
        f' <span class="muted">→</span> {badge(finding.verdict.value, small=True)}'
        if finding is not None
        else ""
    )
    word = expectation_word(result, recorded)
    tip = f"{result.verdict.value}: {figures(result)}"
    return (
        f'<td class="cell" title="{esc(tip)}"><a href="#{esc(anchor(result))}">'
        f"{badge(result.verdict.value)}{second} {word_html(word)}"
        f'<span class="figs">{esc(_ttr(result))}</span></a></td>'
    )


def _ttr(result: GamedayResult) -> str:
    return f"TTR {seconds(result.ttr_s)}" if result.ttr_s is not None else ""


def scorecard_html(results: list[GamedayResult], recorded: Recorded | None = None) -> str:
    """Scenarios in rows (the worst cell first), runbooks in columns, each column headed by
    its "would it work tonight" line; a cell is the verdict, the second finding inside it,
    and whether it is what the baseline expects."""
    groups = by_runbook(results)
    head = (
        '<tr><th class="scen">scenario</th>'
        + "".join(
            f'<th>{esc(runbook_stem(rb))}<div class="tonight gd-tonight">'
            f"{esc(tonight_line(rows, recorded))}</div></th>"
            for rb, rows in groups.items()
        )
        + "</tr>"
    )
    titles = {r.scenario: r.title for r in results}
    body = []
    for scenario in scenario_order(results, recorded):
        cells = []
        for rows in groups.values():
            found = [r for r in rows if r.scenario == scenario]
            cells.append(_cell(found[-1] if found else None, recorded))
        body.append(
            f'<tr class="gd-score-row"><td title="{esc(titles.get(scenario, ""))}">'
            f"<code>{esc(scenario)}</code></td>{''.join(cells)}</tr>"
        )
    return (
        '<section class="gd-scorecard"><table class="scorecard">'
        f"{head}{''.join(body)}</table></section>"
    )


def _generic(value: Any) -> str:
    """Optional sections from other parts of the harness, whatever their exact shape:
    a list of objects is a table, a list of strings a list, an object two columns."""
    if isinstance(value, str):
        return f"<p>{esc(value)}</p>"
    if isinstance(value, dict):
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{_inline(v)}</td></tr>" for k, v in value.items())
        return f'<table class="generic">{rows}</table>'
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        head = "".join(f"<th>{esc(k)}</th>" for k in keys)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_inline(v.get(k, ''))}</td>" for k in keys) + "</tr>"
            for v in value
        )
        return f'<table class="generic"><tr>{head}</tr>{rows}</table>'
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_inline(v)}</li>" for v in value) + "</ul>"
    return f"<p>{esc(value)}</p>"


def _inline(value: Any) -> str:
    if isinstance(value, list | dict):
        return _generic(value)
    return esc("" if value is None else value)


def _refs(refs: Any, runbook: bool) -> str:
    """Runbook steps (`file:line` and the command) or deployment lines (`file:line`)."""
    out = []
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict):
            out.append(esc(ref))
            continue
        where = Path(str(ref.get("path", ""))).name + (f":{ref['line']}" if ref.get("line") else "")
        text = ref.get("command") if runbook else ref.get("text")
        out.append(f"{esc(where)}" + (f" <code>{esc(text)}</code>" if text else ""))
    return "<br>".join(out)


def drift_html(drift: Any) -> str:
    """The drift report (`harness/deployment/report.py`'s `to_dict`): one row a finding,
    worst effect first as the report orders them; any other shape is shown as it is."""
    findings = drift.get("findings") if isinstance(drift, dict) else None
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        return _generic(drift)
    counts = drift.get("counts") or {}
    lead = (
        f"<p>Deployment <code>{esc(drift.get('deployment', '?'))}</code>: "
        + (", ".join(f"{esc(n)} {esc(k)}" for k, n in counts.items()) or "no drift")
        + "</p>"
    )
    if not findings:
        return lead
    rows = "".join(
        f"<tr><td>{esc(f.get('effect', ''))}</td><td>{esc(f.get('message', ''))}</td>"
        f"<td>{_refs(f.get('runbook'), True)}</td><td>{_refs(f.get('deployment'), False)}</td>"
        f"<td>{esc(', '.join(map(str, f.get('scenarios') or [])))}</td></tr>"
        for f in findings
    )
    return (
        f'{lead}<table class="generic"><tr><th>effect</th><th>what happens</th>'
        f"<th>runbook step</th><th>deployment</th><th>scenarios</th></tr>{rows}</table>"
    )


def optional_sections(run: Run) -> str:
    """ "Drift against the deployment" and "Stand-ins and why", when the record has them."""
    out = []
    for field, title, css in (
        ("drift", "Drift against the deployment", "gd-drift"),
        ("stand_ins", "Stand-ins and why", "gd-stand-ins"),
    ):
        value = getattr(run.info, field, None)
        if value:
            body = drift_html(value) if field == "drift" else _generic(value)
            out.append(f'<section class="{css}"><h2>{esc(title)}</h2>{body}</section>')
    return "".join(out)


def render_page(run: Run) -> str:
    results = run.results
    info = run.info
    recorded = getattr(info, "expected", None) or {}
    regressions = sum(expectation_word(r, recorded) == "regression" for r in results)
    facts = (
        f"{len(results)} gamedays on {esc(info.backend or '?')}, started {esc(info.started_at)}, "
        f"harness {esc(info.harness_version)}"
        + (
            " · <strong>interrupted</strong>: the gamedays that finished"
            if info.interrupted
            else ""
        )
        + (
            f' · <strong class="word-regression">{regressions} regression(s)</strong>'
            if regressions
            else ""
        )
    )
    links = []
    if getattr(info, "drift", None):
        links.append('<a href="#drift">drift against the deployment</a>')
    if getattr(info, "stand_ins", None):
        links.append('<a href="#stand-ins">stand-ins</a>')
    if links:
        facts += " · " + " · ".join(links)
    stems = ", ".join(dict.fromkeys(runbook_stem(r.runbook) for r in results)) or "no gameday"
    blocks = "".join(gameday_html(r, recorded) for r in worst_first(results, recorded))
    sections = (
        optional_sections(run)
        .replace('class="gd-drift"', 'class="gd-drift" id="drift"')
        .replace('class="gd-stand-ins"', 'class="gd-stand-ins" id="stand-ins"')
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Gameday report — {esc(stems)}</title><style>{CSS}</style></head><body>"
        f'<h1>Would the runbook work tonight? <span class="muted">{esc(stems)}</span></h1>'
        f'<p class="runfacts">{facts}</p>'
        f"{scorecard_html(results, recorded) if results else '<p>No gameday finished.</p>'}"
        f'<h2 class="gd-blocks-title">Gamedays, worst first</h2>{blocks}{sections}'
        "</body></html>\n"
    )


@register_report(
    "html",
    option="--html",
    default="report.html",
    help="the HTML report: scorecard, then per gameday the reason, steps and timeline",
)
def render_html(run: Run, target: Path) -> list[Path]:
    return [write_atomic(target, render_page(run))]
