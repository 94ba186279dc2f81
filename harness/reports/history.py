"""History of scheduled gamedays: verdict and TTR per scenario across runs.

`gameday history DIR` reads every `results.json` under DIR (one per run directory, as
`gameday run --out DIR/<run>` leaves them), orders the runs by their start time, and
writes next to them:

* `history.md`: per runbook a trend table (a row per scenario, a column per run, the
  latest ten: verdict and TTR) and a per-scenario summary (runs, recovered, median and
  worst TTR, last change);
* `history.svg`: one panel per scenario, the TTR per run of each runbook (a line each) on a
  log scale (so 0.5 s and 300 s share a panel) against the SEV budget line, each point
  coloured by its verdict; runs that did not recover are crosses along the top.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
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
        for k in sorted(keys):
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


WIDTH, LEFT, RIGHT, PANEL_H, PANEL_GAP = 880, 70, 170, 110, 44
# One series a runbook in each scenario's panel: told apart by line dash and label.
SERIES_DASH = ("", "6 3", "2 3", "8 3 2 3")


def _panel_scale(series: list[list[GamedayResult | None]]) -> tuple[int, int]:
    values = [r.ttr_s for rs in series for r in rs if r is not None and r.ttr_s]
    budgets = [r.budget_s for rs in series for r in rs if r is not None and r.budget_s]
    lo = min(values + budgets + [1.0]) / 2
    hi = max(values + budgets + [1.0]) * 1.5
    return math.floor(math.log10(lo)), math.ceil(math.log10(hi))


def _svg_panel(
    h: History, scenario: str, runbooks: list[str], y0: float, x: Callable[[int], float]
) -> tuple[list[str], float]:
    """One scenario: TTR per run (log axis) of each runbook, the budget, verdict colours;
    a run that did not recover is a cross along the top of the panel."""
    plot_w = WIDTH - LEFT - RIGHT
    series = [h.series((scenario, rb)) for rb in runbooks]
    lo_e, hi_e = _panel_scale(series)
    top = y0 + 22

    def y(v: float) -> float:
        frac = (math.log10(max(v, 10.0**lo_e)) - lo_e) / max(hi_e - lo_e, 1)
        return top + PANEL_H - frac * PANEL_H

    parts = [
        f'<text x="8" y="{y0 + 14}" font-size="12" font-weight="600">{esc(scenario)}</text>',
        f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" fill="#fafafa" '
        'stroke="#ddd"/>',
    ]
    for e in range(lo_e, hi_e + 1):
        parts.append(
            f'<line x1="{LEFT}" y1="{y(10.0**e):.1f}" x2="{LEFT + plot_w}" y2="{y(10.0**e):.1f}" '
            f'stroke="#e0e0e0"/><text x="{LEFT - 4}" y="{y(10.0**e) + 3:.1f}" font-size="9" '
            f'text-anchor="end" fill="#757575">{10.0**e:g} s</text>'
        )
    budgets = sorted({r.budget_s for rs in series for r in rs if r is not None and r.budget_s})
    for budget in budgets:
        parts.append(
            f'<line x1="{LEFT}" y1="{y(budget):.1f}" x2="{LEFT + plot_w}" y2="{y(budget):.1f}" '
            f'stroke="#c62828" stroke-dasharray="6 3"/><text x="{LEFT + plot_w + 4}" '
            f'y="{y(budget) + 3:.1f}" font-size="10" fill="#c62828">budget '
            f"{esc(seconds(budget))}</text>"
        )
    for k, (runbook, rs) in enumerate(zip(runbooks, series, strict=True)):
        dash = SERIES_DASH[k % len(SERIES_DASH)]
        points: list[str] = []
        for i, r in enumerate(rs):
            if r is None:
                continue
            colour = VERDICT_COLOURS.get(r.verdict.value, "#424242")
            tip = f"{runbook}, {h.run_label(h.runs[i])}: {r.verdict.value}, TTR {seconds(r.ttr_s)}"
            if r.ttr_s is not None:
                py = y(max(r.ttr_s, 1e-3))
                points.append(f"{x(i):.1f},{py:.1f}")
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{py:.1f}" r="4" fill="{colour}">'
                    f"<title>{esc(tip)}</title></circle>"
                )
            else:
                cx, cy = x(i), top + 6 + 9 * k
                parts.append(
                    f'<path d="M{cx - 4:.1f},{cy - 4:.1f} L{cx + 4:.1f},{cy + 4:.1f} '
                    f'M{cx - 4:.1f},{cy + 4:.1f} L{cx + 4:.1f},{cy - 4:.1f}" '
                    f'stroke="{colour}" stroke-width="2.5"><title>{esc(tip)}</title></path>'
                )
        if len(points) > 1:
            parts.insert(
                2,
                f'<polyline points="{" ".join(points)}" fill="none" stroke="#90a4ae" '
                f'stroke-width="1.2" stroke-dasharray="{dash}"/>',
            )
        ly = top + PANEL_H - 8 - 12 * k
        parts.append(
            f'<line x1="{LEFT + plot_w + 4}" y1="{ly - 3}" x2="{LEFT + plot_w + 22}" '
            f'y2="{ly - 3}" stroke="#90a4ae" stroke-width="1.2" stroke-dasharray="{dash}"/>'
            f'<text x="{LEFT + plot_w + 26}" y="{ly}" font-size="9" fill="#555">'
            f"{esc(runbook[:26])}</text>"
        )
    bottom = top + PANEL_H
    n = len(h.runs)
    for i in sorted({0, n - 1} | ({n // 2} if n > 4 else set())):
        parts.append(
            f'<text x="{x(i):.1f}" y="{bottom + 13:.1f}" font-size="9" '
            f'text-anchor="middle" fill="#555">{esc(h.run_label(h.runs[i])[:19])}</text>'
        )
    return parts, bottom + PANEL_GAP - 22


def to_svg(h: History) -> str:
    """Per scenario one panel: TTR per run of each runbook (log axis), the SEV budget,
    points coloured by verdict."""
    plot_w = WIDTH - LEFT - RIGHT
    n = len(h.runs)
    parts: list[str] = [
        f'<text x="8" y="18" font-size="14" font-weight="600">Gameday history: '
        f"{n} run(s), TTR per scenario (log scale)</text>"
    ]

    def x(i: int) -> float:
        return LEFT + (plot_w / 2 if n == 1 else i * plot_w / (n - 1))

    scenarios = sorted(dict.fromkeys(s for s, _ in h.keys))
    y0 = 34.0
    for scenario in scenarios:
        runbooks = [rb for s, rb in h.keys if s == scenario]
        panel, y0 = _svg_panel(h, scenario, runbooks, y0, x)
        parts += panel
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
