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

from harness.errors import BadInput
from harness.reports.json_results import Run
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
    """Each chosen report, from the run's record; one failing writer costs only its file."""
    return render_reports(run, chosen)
