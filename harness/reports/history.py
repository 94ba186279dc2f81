"""History of scheduled gamedays: verdict and TTR per scenario across runs.

`gameday history DIR` reads every `results.json` under DIR (one per run directory, as
`gameday run --out DIR/<run>` leaves them), orders the runs by their start time, and
writes next to them:

* `history.md`: per runbook a trend table (a row per scenario, a column per run, the
  latest ten: verdict and TTR) and a per-scenario summary (runs, recovered, median and
  worst TTR, last change);
* `history.svg`: one panel per scenario, TTR per run on a log scale (so 0.5 s and 300 s
  share a panel) against the SEV budget line, each point coloured by its verdict; runs
  that did not recover are drawn as crosses along the top.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput
from harness.reports._format import VERDICT_COLOURS, esc, md_cell, runbook_stem, seconds
from harness.reports.json_results import RESULTS_FILE, Run, read_run
from harness.result import GamedayResult, Verdict

Key = tuple[str, str]  # (scenario, runbook stem)


@dataclass
class History:
    root: Path
    runs: list[Run]

    @property
    def keys(self) -> list[Key]:
        seen: dict[Key, None] = {}
        for run in self.runs:
            for r in run.results:
                seen.setdefault((r.scenario, runbook_stem(r.runbook)), None)
        return list(seen)

    def series(self, key: Key) -> list[GamedayResult | None]:
        """One entry per run, None where the scenario did not run."""
        out: list[GamedayResult | None] = []
        for run in self.runs:
            found = [r for r in run.results if (r.scenario, runbook_stem(r.runbook)) == key]
            out.append(found[-1] if found else None)
        return out

    def run_label(self, run: Run) -> str:
        if run.path is not None:
            try:
                return str(run.path.parent.relative_to(self.root)) or run.info.started_at
            except ValueError:
                pass
        return run.info.started_at


def load_history(root: str | Path) -> History:
    base = Path(root)
    if not base.is_dir():
        raise BadInput(f"{base}: no such directory")
    files = sorted(base.rglob(RESULTS_FILE))
    if not files:
        raise BadInput(
            f"{base}: no {RESULTS_FILE} under this directory (run `gameday run --out "
            f"{base}/<run>` first)"
        )
    runs = [read_run(f) for f in files]
    runs.sort(key=lambda r: (r.info.started_at, str(r.path)))
    return History(base, runs)


MAX_RUN_COLUMNS = 10  # the latest runs in the table; history.svg draws them all


def _cell(r: GamedayResult | None) -> str:
    if r is None:
        return "–"
    mark = "✓" if r.verdict == Verdict.RECOVERED else "✗"
    finding = r.resolution_finding
    verdict = r.verdict.value + (f"→{finding.verdict.value}" if finding is not None else "")
    if r.verdict == Verdict.RECOVERED and r.ttr_s is not None:
        return f"{mark} {seconds(r.ttr_s)}"  # recovered: its TTR says the rest
    ttr = f" {seconds(r.ttr_s)}" if r.ttr_s is not None else ""
    return f"{mark} {verdict}{ttr}"


def _short_label(label: str) -> str:
    """A run's column header: its directory name, or its start time without the seconds."""
    return label[:16] if len(label) > 16 and label[:4].isdigit() else label


def to_markdown(h: History) -> str:
    keys = h.keys
    shown_runs = list(range(len(h.runs)))[-MAX_RUN_COLUMNS:]
    out = [
        "# Gameday history",
        "",
        f"{len(h.runs)} run(s) under `{h.root}`, oldest first. Scenarios in rows, runs in "
        "columns, one table per runbook; a cell is the verdict (→ the second finding), "
        "✓ with its TTR when recovered.",
    ]
    if len(shown_runs) < len(h.runs):
        out.append(
            f"The latest {len(shown_runs)} runs are shown; history.svg draws all {len(h.runs)}."
        )
    out.append("")
    series = {k: h.series(k) for k in keys}
    runbooks = list(dict.fromkeys(rb for _, rb in keys))
    for runbook in runbooks:
        heads = [md_cell(_short_label(h.run_label(h.runs[i]))) for i in shown_runs]
        out += [f"## {runbook}", ""]
        out.append("| scenario | " + " | ".join(heads) + " |")
        out.append("|---|" + "---|" * len(heads))
        for k in keys:
            if k[1] != runbook:
                continue
            cells = [md_cell(_cell(series[k][i])) for i in shown_runs]
            out.append(f"| {md_cell(k[0])} | " + " | ".join(cells) + " |")
        out.append("")
    out += [
        "## Per scenario",
        "",
        "| scenario | runbook | runs | recovered | median TTR | worst TTR | latest | last change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in keys:
        rs = [(i, r) for i, r in enumerate(series[k]) if r is not None]
        ttrs = [r.ttr_s for _, r in rs if r.ttr_s is not None]
        recovered = sum(r.verdict == Verdict.RECOVERED for _, r in rs)
        latest = rs[-1][1].verdict.value if rs else "-"
        change = "never"
        for (_, a), (j, b) in zip(rs, rs[1:], strict=False):
            if a.verdict != b.verdict:
                change = f"{a.verdict.value} → {b.verdict.value} at {h.run_label(h.runs[j])}"
        out.append(
            f"| {md_cell(k[0])} | {md_cell(k[1])} | {len(rs)} | {recovered} | "
            f"{seconds(statistics.median(ttrs)) if ttrs else '-'} | "
            f"{seconds(max(ttrs)) if ttrs else '-'} | {latest} | {md_cell(change)} |"
        )
    return "\n".join(out) + "\n"


WIDTH, LEFT, RIGHT, PANEL_H, PANEL_GAP = 880, 70, 150, 120, 44


def to_svg(h: History) -> str:
    """Per scenario, TTR per run on a log axis, budget line, points coloured by verdict."""
    keys = h.keys
    plot_w = WIDTH - LEFT - RIGHT
    n = len(h.runs)
    parts: list[str] = [
        f'<text x="8" y="18" font-size="14" font-weight="600">Gameday history: '
        f"{n} run(s), TTR per scenario (log scale)</text>"
    ]

    def x(i: int) -> float:
        return LEFT + (plot_w / 2 if n == 1 else i * plot_w / (n - 1))

    y0 = 34.0
    for key in keys:
        series = h.series(key)
        values = [r.ttr_s for r in series if r is not None and r.ttr_s]
        budgets = [r.budget_s for r in series if r is not None and r.budget_s]
        lo = min(values + budgets + [1.0]) / 2
        hi = max(values + budgets + [1.0]) * 1.5
        lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        top, bottom = y0 + 22, y0 + 22 + PANEL_H

        def y(v: float, lo_e: int = lo_e, hi_e: int = hi_e, top: float = top) -> float:
            frac = (math.log10(max(v, 10.0**lo_e)) - lo_e) / max(hi_e - lo_e, 1)
            return top + PANEL_H - frac * PANEL_H

        parts.append(
            f'<text x="8" y="{y0 + 14}" font-size="12" font-weight="600">'
            f'{esc(key[0])} <tspan font-weight="400" fill="#757575">({esc(key[1])})'
            "</tspan></text>"
        )
        parts.append(
            f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" fill="#fafafa" '
            'stroke="#ddd"/>'
        )
        for e in range(lo_e, hi_e + 1):
            gy = y(10.0**e)
            parts.append(
                f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{LEFT + plot_w}" y2="{gy:.1f}" '
                'stroke="#e0e0e0"/>'
            )
            parts.append(
                f'<text x="{LEFT - 4}" y="{gy + 3:.1f}" font-size="9" text-anchor="end" '
                f'fill="#757575">{10.0**e:g} s</text>'
            )
        for budget in sorted(set(budgets)):
            by = y(budget)
            parts.append(
                f'<line x1="{LEFT}" y1="{by:.1f}" x2="{LEFT + plot_w}" y2="{by:.1f}" '
                'stroke="#c62828" stroke-dasharray="6 3"/>'
            )
            parts.append(
                f'<text x="{LEFT + plot_w + 4}" y="{by + 3:.1f}" font-size="10" '
                f'fill="#c62828">budget {esc(seconds(budget))}</text>'
            )
        points = []
        line_at = len(parts)  # the connecting line goes under the points
        for i, r in enumerate(series):
            if r is None:
                continue
            colour = VERDICT_COLOURS.get(r.verdict.value, "#424242")
            tip = f"{h.run_label(h.runs[i])}: {r.verdict.value}, TTR {seconds(r.ttr_s)}"
            if r.ttr_s is not None:
                py = y(max(r.ttr_s, 1e-3))
                points.append(f"{x(i):.1f},{py:.1f}")
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{py:.1f}" r="4" fill="{colour}">'
                    f"<title>{esc(tip)}</title></circle>"
                )
            else:
                cx, cy = x(i), top + 6
                parts.append(
                    f'<path d="M{cx - 4:.1f},{cy - 4:.1f} L{cx + 4:.1f},{cy + 4:.1f} '
                    f'M{cx - 4:.1f},{cy + 4:.1f} L{cx + 4:.1f},{cy - 4:.1f}" '
                    f'stroke="{colour}" stroke-width="2.5"><title>{esc(tip)}</title></path>'
                )
        if len(points) > 1:
            parts.insert(
                line_at,
                f'<polyline points="{" ".join(points)}" '
                'fill="none" stroke="#90a4ae" stroke-width="1"/>',
            )
        labels = sorted({0, n - 1} | ({n // 2} if n > 4 else set()))
        for i in labels:
            parts.append(
                f'<text x="{x(i):.1f}" y="{bottom + 13:.1f}" font-size="9" '
                f'text-anchor="middle" fill="#555">{esc(h.run_label(h.runs[i])[:19])}</text>'
            )
        y0 = bottom + PANEL_GAP - 22
    legend_y = y0 + 8
    lx = LEFT
    for verdict, colour in VERDICT_COLOURS.items():
        parts.append(
            f'<circle cx="{lx}" cy="{legend_y}" r="4" fill="{colour}"/>'
            f'<text x="{lx + 8}" y="{legend_y + 4}" font-size="10">{esc(verdict)}</text>'
        )
        lx += 20 + 7 * len(verdict)
    height = int(legend_y + 16)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="Gameday TTR history" '
        "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif\" "
        f'style="background:#fff">{"".join(parts)}</svg>\n'
    )


def write_history(root: str | Path) -> tuple[History, Path, Path]:
    """Read every run under root; write history.md and history.svg there."""
    h = load_history(root)
    md = h.root / "history.md"
    svg = h.root / "history.svg"
    md.write_text(to_markdown(h) + "\n![TTR per scenario](history.svg)\n", encoding="utf-8")
    svg.write_text(to_svg(h), encoding="utf-8")
    return h, md, svg
