"""Views of `GamedayResult`, the one record of a gameday: none keeps data of its own.

    results.json ─┬─▶ html            report.html: scorecard, a block per gameday (html_gameday)
      (json_     ├─▶ review          post-incident review in the runbook's own template
      results)   ├─▶ regression      two runs: verdicts regressed/fixed, TTD/TTR beyond noise, steps
                 ├─▶ history         per runbook: scenarios × runs; TTR trend (SVG)
                 ├─▶ exercise        a scheduled run appended to a history, what changed since
                 └─▶ html_plugin     pytest-html extras for `pytest -m gameday --html`
    board: the terminal during a run; scorecard: "would it work tonight", shared by both;
    timeline_svg (+ timeline_steps): the picture; _humanize: the stack's names, not ports.
    `html` and `reviews` register themselves with `registry` (`gameday report` renders them).

`runbook_lint` is the odd one out: it reads the runbook and the compose file, not results,
to say in advance what a gameday will not be able to exercise.
"""

from harness.reports.json_results import (
    RESULTS_FILE,
    SCHEMA_VERSION,
    Run,
    RunInfo,
    read_run,
    write_run,
)
from harness.reports.timeline_svg import timeline_svg

__all__ = [
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "Run",
    "RunInfo",
    "read_run",
    "timeline_svg",
    "write_run",
]
