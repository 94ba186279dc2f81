"""The post-incident review template: where it comes from and how a review file is named.

The template is the ```markdown block of the runbook's "Post-Incident Review" section
(`# Template: docs/post-incident-reports/YYYY-MM-DD-{incident-id}.md`); a runbook without
one gets `DEFAULT_TEMPLATE` (the runbook's template as shipped) and the review says so.
`review.py` fills it.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from harness.errors import BadInput
from harness.reports._format import runbook_stem
from harness.result import GamedayResult
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook

COMMANDER = "gameday harness"
NOT_APPLICABLE = "n/a in a gameday"

DEFAULT_TEMPLATE = """\
# Template: docs/post-incident-reports/YYYY-MM-DD-{incident-id}.md

# Post-Incident Review: {Incident Title}

## Summary
- **Date**: {Date}
- **Duration**: {Start time} - {End time} ({Total duration})
- **Severity**: SEV-{Level}
- **Incident Commander**: {Name}

## Impact
- **Users Affected**: {Number}
- **Requests Failed**: {Number}
- **Revenue Impact**: {Amount if applicable}

## Timeline
| Time | Event | Action Taken |
|------|-------|--------------|
| 10:00 | Alert fired | Investigation started |

## Root Cause
{Detailed explanation of what went wrong}

## Resolution
{What was done to fix the issue}

## Lessons Learned
### What Went Well
- Quick detection through monitoring

### What Could Be Improved
- Faster root cause identification

## Action Items
- [ ] {Action 1} - Assigned to {Person} - Due {Date}

## Follow-up
- Monitoring improvements: {Details}
- Process improvements: {Details}
- Technical debt: {Details}
"""


def template_from_runbook(runbook: Runbook) -> str | None:
    """The runbook's post-incident review template, if it has one."""
    for section in runbook.sections:
        if section.kind != "post-incident":
            continue
        for template in section.templates:
            if re.search(r"^#\s+Post-Incident Review", template, re.MULTILINE):
                return template
    return None


def load_template(runbook_path: str | Path | None) -> tuple[str, str]:
    """(template, where it came from); falls back to DEFAULT_TEMPLATE."""
    if runbook_path:
        try:
            template = template_from_runbook(parse_runbook(runbook_path))
        except (BadInput, OSError):
            template = None
        if template:
            return template, str(runbook_path)
    return DEFAULT_TEMPLATE, "the harness's copy of the runbook template (runbook not readable)"


def incident_id(result: GamedayResult) -> str:
    return f"gameday-{result.scenario}-{runbook_stem(result.runbook)}"


def review_filename(result: GamedayResult, template: str = DEFAULT_TEMPLATE) -> str:
    """The template's own path pattern (`YYYY-MM-DD-{incident-id}.md`), filled."""
    m = re.search(r"Template:\s*\S*?([^/\s]*\{incident-id\}[^/\s]*)", template)
    pattern = m.group(1) if m else "YYYY-MM-DD-{incident-id}.md"
    return pattern.replace("YYYY-MM-DD", _start(result).strftime("%Y-%m-%d")).replace(
        "{incident-id}", incident_id(result)
    )


def _start(result: GamedayResult) -> datetime:
    try:
        return datetime.fromisoformat(result.started_at)
    except ValueError:
        return datetime.fromtimestamp(0).astimezone()
