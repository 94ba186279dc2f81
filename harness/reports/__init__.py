"""Views of `GamedayResult`, the one record of a gameday: none keeps data of its own.

    results.json ─┬─▶ html_plugin     pytest-html: step table, timeline, verdict; summary on top
      (json_     ├─▶ timeline_svg    inline SVG: t0, detection, steps, recovery, load errors, budget
      results)   ├─▶ regression      two runs: verdicts regressed/fixed, TTD/TTR beyond noise, steps
                 ├─▶ review          post-incident review in the runbook's own template
                 └─▶ history         verdict and TTR per scenario across scheduled runs

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
