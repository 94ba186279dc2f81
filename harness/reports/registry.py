"""Reports that register themselves: a new report is one module in `harness/reports/`.

Every report is a view of the run's record (`results.json`, read by `read_run`): a renderer
takes the `Run` and a target path and writes its file(s) there. `gameday report` and the end
of `gameday run` call `render_reports`; a failing writer loses only its own output and says
so in one line, the others are still written.

    @register_report("html", option="--html", default="report.html", help="the HTML report")
    def render_html(run: Run, target: Path) -> list[Path]: ...

Modules of this package are imported once, on the first call to `report_kinds()`, so the
decorator in a new module is all it takes (no list elsewhere to edit).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import OutputError
from harness.reports.json_results import Run

Renderer = Callable[[Run, Path], list[Path]]


@dataclass(frozen=True)
class ReportKind:
    """One kind of report: its name, its command-line option, its default target."""

    name: str
    option: str  # e.g. "--html" on `gameday report` and `gameday run`
    default: str | None  # file or directory name under --out; None: written only when asked
    help: str
    render: Renderer


@dataclass(frozen=True)
class ReportOutcome:
    """What one writer did: the files it wrote, or the one line saying why it wrote none."""

    name: str
    target: Path
    written: tuple[Path, ...] = ()
    error: str | None = None


_KINDS: dict[str, ReportKind] = {}
_discovered = False


def register_report(
    name: str, *, option: str, default: str | None, help: str
) -> Callable[[Renderer], Renderer]:
    def register(render: Renderer) -> Renderer:
        _KINDS[name] = ReportKind(name, option, default, help, render)
        return render

    return register


def report_kinds() -> dict[str, ReportKind]:
    """Every registered report, after importing each module of this package once."""
    global _discovered
    if not _discovered:
        _discovered = True
        package = importlib.import_module("harness.reports")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"harness.reports.{module.name}")
    return dict(_KINDS)


def render_reports(run: Run, targets: Mapping[str, Path]) -> list[ReportOutcome]:
    """Write each asked report; one failing writer never costs another its file."""
    kinds = report_kinds()
    outcomes: list[ReportOutcome] = []
    for name, target in targets.items():
        kind = kinds[name]
        try:
            written = kind.render(run, target)
        except (OutputError, OSError) as exc:
            reason = exc.reason if isinstance(exc, OutputError) else (exc.strerror or str(exc))
            outcomes.append(ReportOutcome(name, target, error=f"{target}: not written: {reason}"))
        else:
            outcomes.append(ReportOutcome(name, target, tuple(written)))
    return outcomes
