"""The run's drift report as Markdown (`drift.md`): the findings of the runbook checked
against the `--deployment` the run was given, read from the run record (`run.drift` in
results.json). A run without a deployment writes nothing."""

from __future__ import annotations

from pathlib import Path

from harness.deployment.render import to_markdown
from harness.deployment.report import DriftReport
from harness.errors import OutputError
from harness.reports.json_results import Run, write_atomic
from harness.reports.registry import register_report


def run_drift(run: Run) -> DriftReport | None:
    """The drift report the run carries, or None (no deployment, or an unreadable one)."""
    if not run.info.drift:
        return None
    try:
        return DriftReport.from_dict(run.info.drift)
    except (KeyError, TypeError, ValueError):
        return None


@register_report(
    "drift",
    option="--drift",
    default="drift.md",
    help="the runbook checked against the run's --deployment, as Markdown",
)
def render_drift(run: Run, target: Path) -> list[Path]:
    report = run_drift(run)
    if report is None:
        if run.info.drift:
            raise OutputError(str(target), "the run's drift report has an unknown schema")
        return []
    return [write_atomic(target, to_markdown(report))]
