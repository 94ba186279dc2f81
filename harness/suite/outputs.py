"""The files a run writes besides results.json, all rendered from the run's record through
the report registry (`harness/reports/registry.py`), and checked before anything starts.

    targets(out, asked) ─▶ {"html": out/report.html, "reviews": out/reviews, "junit": PATH}
    check(targets)      ─▶ BadInput (one line, exit 2) for a path that cannot be written
    render(run, targets) ─▶ one ReportOutcome per kind; a failing writer loses its own file
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.errors import BadInput, OutputError
from harness.reports.json_results import Run, write_atomic
from harness.reports.registry import ReportOutcome, render_reports, report_kinds

# Kinds that are directories (everything else is one file).
DIRECTORY_KINDS = frozenset({"reviews"})


def targets(out: Path | None, asked: Mapping[str, str | None]) -> dict[str, Path]:
    """Every kind asked for by path, plus, under `out`, every kind with a default name."""
    kinds = report_kinds()
    chosen: dict[str, Path] = {}
    for name, kind in kinds.items():
        if asked.get(name):
            chosen[name] = Path(str(asked[name]))
        elif out is not None and kind.default:
            chosen[name] = out / kind.default
    for name in ("html", "reviews"):  # until the reports' own renderers are registered
        if name in kinds:
            continue
        if asked.get(name):
            chosen[name] = Path(str(asked[name]))
        elif out is not None:
            chosen[name] = out / _FALLBACK_DEFAULTS[name]
    return chosen


def check(chosen: Mapping[str, Path]) -> None:
    """Each target can be written, tried with a probe file where it would go (root ignores
    permission bits, so asking os.access() would say yes on a read-only mount too)."""
    for name, path in chosen.items():
        directory = path if name in DIRECTORY_KINDS else path.parent
        if name not in DIRECTORY_KINDS and path.is_dir():
            raise BadInput(f"{path}: the {name} report must be a file, not a directory")
        writable(directory, f"the {name} report's directory")


def writable(directory: Path, what: str) -> None:
    """BadInput unless `directory` exists (or can be made) and takes a file."""
    if directory.exists() and not directory.is_dir():
        raise BadInput(f"{directory}: {what} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{directory}: cannot create {what}: {exc.strerror}") from None
    probe = directory / f".gameday-write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"gameday\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise BadInput(f"{directory}: {what} is not writable: {exc.strerror}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def render(run: Run, chosen: Mapping[str, Path]) -> list[ReportOutcome]:
    kinds = report_kinds()
    outcomes = render_reports(run, {n: p for n, p in chosen.items() if n in kinds})
    for name, path in chosen.items():
        if name in kinds:
            continue
        try:
            written = _FALLBACKS[name](run, path)
        except (OutputError, OSError) as exc:
            reason = exc.reason if isinstance(exc, OutputError) else (exc.strerror or str(exc))
            outcomes.append(ReportOutcome(name, path, error=f"{path}: not written: {reason}"))
        else:
            outcomes.append(ReportOutcome(name, path, tuple(written)))
    return outcomes


# -- interim renderers, used only while the reports' registered ones are not installed ---------


def _html(run: Run, target: Path) -> list[Path]:
    from harness.reports import html_plugin as h

    rows = [h.SummaryRow(f"{r.scenario}--{r.runbook}", "passed", r) for r in run.results]
    body = h.summary_html(rows) + "".join(h.result_html(r) for r in run.results)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{h.esc(h.report_title(run.results))}</title></head><body>{body}</body></html>\n"
    )
    return [write_atomic(target, page)]


def _reviews(run: Run, target: Path) -> list[Path]:
    from harness.reports.review import load_template, render_review, review_filename

    written = []
    templates: dict[str, tuple[str, str]] = {}
    for result in run.results:
        if result.runbook not in templates:
            templates[result.runbook] = load_template(result.runbook)
        template, where = templates[result.runbook]
        path = target / review_filename(result, template)
        written.append(write_atomic(path, render_review(result, template, where)))
    return written


_FALLBACKS = {"html": _html, "reviews": _reviews}
_FALLBACK_DEFAULTS = {"html": "report.html", "reviews": "reviews"}
