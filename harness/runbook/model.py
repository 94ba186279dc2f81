"""The runbook as data: severities, sections, steps. Parsed by `harness.runbook.parse`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


class Role(enum.StrEnum):
    """What a step is for, in the runbook's own words."""

    DETECTION = "detection"
    INVESTIGATION = "investigation"
    RESOLUTION = "resolution"
    COMMUNICATION = "communication"


@dataclass(frozen=True)
class Severity:
    """One `### SEV-N: Name (...)` block."""

    level: int  # 1..4
    name: str  # "Critical (Service Down)"
    definition: str
    response_time_text: str  # "Immediate (< 5 minutes)"
    response_time: timedelta  # the budget: 5 min, 15 min, 1 h, 1 business day
    escalation: str
    line: int

    @property
    def label(self) -> str:
        return f"SEV-{self.level}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "label": self.label,
            "name": self.name,
            "definition": self.definition,
            "response_time_text": self.response_time_text,
            "response_time_seconds": self.response_time.total_seconds(),
            "escalation": self.escalation,
            "line": self.line,
        }


@dataclass(frozen=True)
class Step:
    """One command of a fenced code block, with the comment that introduces it."""

    command: str  # the command text exactly as written (continuations kept)
    comment: str  # nearest preceding comment, without '# ' ("1. Check if containers are running")
    line: int  # 1-based source line of the command's first line
    role: Role
    section: str  # title of the section holding the step

    @property
    def manual(self) -> bool:
        """A comment-only instruction ("# Check Grafana memory dashboard"): nothing to run."""
        return self.command == ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "comment": self.comment,
            "line": self.line,
            "role": self.role.value,
            "section": self.section,
        }


@dataclass
class Section:
    """A heading of the runbook and what it holds."""

    title: str  # heading text, e.g. "Service Down (SEV-1)" or "Scenario 1: Service Won't Start"
    level: int  # heading level (2 for ##, 3 for ###, 4 for ####)
    line: int
    kind: str  # "severity-levels" | "response-process" | "immediate-response" | "communication"
    #            | "scenario" | "post-incident" | "contacts" | "tools" | "unknown"
    #            | "document" (the runbook's own `# Title`)
    steps: list[Step] = field(default_factory=list)
    symptoms: str = ""  # scenarios: the **Symptoms** text
    common_causes: list[str] = field(default_factory=list)  # scenarios: **Common Causes** items
    checklist: list[str] = field(default_factory=list)  # "- [ ] ..." items
    templates: list[str] = field(default_factory=list)  # ```markdown blocks kept verbatim
    severities: tuple[int, ...] = ()  # SEV levels named in the title: "(SEV-2/SEV-3)" -> (2, 3)
    parent: str | None = None  # enclosing heading's title

    def steps_with_role(self, *roles: Role) -> list[Step]:
        return [s for s in self.steps if s.role in roles]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "level": self.level,
            "line": self.line,
            "kind": self.kind,
            "parent": self.parent,
            "severities": list(self.severities),
            "steps": [s.to_dict() for s in self.steps],
            "symptoms": self.symptoms,
            "common_causes": list(self.common_causes),
            "checklist": list(self.checklist),
            "templates": list(self.templates),
        }


@dataclass
class Runbook:
    path: str
    title: str
    severities: dict[int, Severity]
    sections: list[Section]
    unknown_sections: list[str] = field(default_factory=list)  # kept, and reported

    def section(self, title: str) -> Section:
        """Find a section by exact title, or by a unique case-insensitive substring."""
        exact = [s for s in self.sections if s.title == title]
        if exact:
            return exact[0]
        loose = [s for s in self.sections if title.lower() in s.title.lower()]
        if len(loose) == 1:
            return loose[0]
        names = ", ".join(repr(s.title) for s in self.sections if s.steps)
        raise KeyError(f"no single runbook section matches {title!r}; sections with steps: {names}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view (durations in seconds, roles as strings)."""
        return {
            "path": self.path,
            "title": self.title,
            "severities": {str(k): v.to_dict() for k, v in sorted(self.severities.items())},
            "sections": [s.to_dict() for s in self.sections],
            "unknown_sections": list(self.unknown_sections),
        }
