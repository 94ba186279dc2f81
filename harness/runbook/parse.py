"""Parse the incident-response runbook (Markdown) into `harness.runbook.model` objects.

Structure comes from markdown-it-py's token stream only: headings, paragraphs, list items
and fenced code blocks.  Small regexes are applied to the text of one heading, one
paragraph or one list item at a time (to read "SEV-1" or "Immediate (< 5 minutes)"),
never to the raw document.

Rules (the brief leaves these to us; they are documented here and tested):

* Section kinds.  The first `#` heading is the document title (kind "document").  A
  top-level section (`##`) is recognised by a keyword of its title ("Severity Levels",
  "Response Process", "Scenarios", "Post-Incident", "Contacts", "Tools").  Its
  children are recognised as follows; anything else is kind "unknown" and is listed in
  `Runbook.unknown_sections` (kept, steps and all):
    - under severity levels: `SEV-N: Name` blocks (kind "severity-levels");
    - under the response process: "... Detection ..." and "... Assessment ..." (kind
      "response-process"), "... Immediate Response ..." (kind "immediate-response",
      whose children must name a severity: "Service Down (SEV-1)"), "... Communication"
      (kind "communication", every child is a communication template);
    - under scenarios: `Scenario N: ...` (kind "scenario");
    - post-incident, contacts and tools: every descendant inherits the kind.
  Group headings share the kind of their family ("Common Incident Scenarios" is kind
  "scenario" with no steps); filter on `steps` to get the runnable ones.

* Steps come from ```bash / ```sh / ```shell / ```zsh fences only (```markdown fences
  are templates; unlabelled fences are ignored).  A command continues over a trailing
  backslash, over lines while a quote (' " `) is open, and over a here-document body
  (`fences.py`).
  A step's comment is the nearest preceding block of consecutive `#` lines, with the
  `#` and one space stripped and the lines joined by "\\n".  A comment block followed
  by a blank line or by the end of the fence is a *manual* step: command "", the
  comment block as comment, the line of its first comment line.  Inline trailing
  comments stay in the command text as written.

* Roles.
    - "Detection and Alert": DETECTION; "Initial Assessment": INVESTIGATION;
      "Useful Commands" (and every tools section): INVESTIGATION; communication
      sections: COMMUNICATION.
    - A fence introduced by a `**Investigation Steps**` paragraph: INVESTIGATION; by
      `**Resolution Steps**`: RESOLUTION (in any section; the label holds until the
      next label).
    - Immediate-response sections (and any other fence without a rule): a command is
      RESOLUTION if it changes state, else DETECTION (immediate response) or
      INVESTIGATION (elsewhere).  "Changes state" is `harness.shell.commands.changes_state`
      (a mutating program, a state-changing sub-command of an operator tool, a curl
      that sends data); redirections are not considered.
    - Manual steps: COMMUNICATION when their comment talks about notifying or posting
      (notify, announce, post in, Slack, PagerDuty, e-mail, channel, page,
      stakeholders): e.g. the "Alert channels" block and "Post in #announcements
      channel"; otherwise the role the rules above give.

* Response time: "N second(s)/minute(s)/hour(s)/day(s)/week(s)" (several such parts
  add up; abbreviations s/sec/min/h/hr accepted); "business day(s)" count as calendar
  days: "Next business day" is timedelta(days=1) (NOT 8 working hours, which is not
  what users expect when they read "next business day").  "Immediate" alone has no
  budget and is an error.

Errors are `RunbookError(path, line, message)`; line is None only when the problem has
no location (empty file, missing "Incident Severity Levels" section).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from harness.errors import RunbookError
from harness.runbook.fences import split_shell_block
from harness.runbook.model import Role, Runbook, Section, Severity, Step
from harness.shell.commands import changes_state

__all__ = ["parse_runbook", "parse_runbook_text", "parse_runbook_bytes"]

MIN_SEV, MAX_SEV = 1, 4

SHELL_LANGS = frozenset({"bash", "sh", "shell", "zsh"})
# Bad-input limits (one line, exit 2, before anything is read into the parser): the team's
# runbook is 10 KB and 75 steps; a 12 MB, 200,000-step file is not a runbook anyone runs.
MAX_RUNBOOK_BYTES = 1 << 20
MAX_RUNBOOK_STEPS = 2000
TEMPLATE_LANGS = frozenset({"markdown", "md"})

# --- small regexes applied to ONE heading / paragraph / list item --------------------

_SEV_DECL = re.compile(r"^SEV-(\d+)\s*:\s*(.*)$", re.IGNORECASE)
_SEV_REF = re.compile(r"\bSEV-(\d+)((?:\s*/\s*(?:SEV-)?\d+)*)", re.IGNORECASE)
_NUMBERS = re.compile(r"\d+")
_SCENARIO = re.compile(r"^Scenario\s+\d+\s*:", re.IGNORECASE)
_LABEL = re.compile(r"^\*\*([^*]+?)\*\*\s*:?\s*(.*)$", re.DOTALL)
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+(.*)$", re.DOTALL)
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(business\s+days?|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h"
    r"|days?|d|weeks?|w)\b",
    re.IGNORECASE,
)
_NEXT_BUSINESS_DAY = re.compile(r"\bnext\s+business\s+day\b", re.IGNORECASE)
_COMMUNICATION_WORDS = re.compile(
    r"\b(notify|notif\w*|announce\w*|post\s+in|slack|pagerduty|e-?mail|channels?|page"
    r"|stakeholders?)\b",
    re.IGNORECASE,
)

_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
}


def parse_response_time(text: str) -> timedelta | None:
    """'Immediate (< 5 minutes)' -> 5 min; 'Next business day' -> 1 day; None if no budget."""
    if _NEXT_BUSINESS_DAY.search(text):
        # A business day is a calendar day here, not 8 working hours: see module doc.
        return timedelta(days=1)
    total = 0.0
    found = False
    for number, unit in _DURATION.findall(text):
        unit = " ".join(unit.lower().split())
        seconds = 86400 if unit.startswith("business") else _UNIT_SECONDS[unit]
        total += float(number) * seconds
        found = True
    return timedelta(seconds=total) if found else None


def title_severities(title: str) -> tuple[int, ...]:
    """SEV levels named in a heading: 'Performance Issues (SEV-2/SEV-3)' -> (2, 3)."""
    levels: list[int] = []
    for m in _SEV_REF.finditer(title):
        for n in _NUMBERS.findall(m.group(0)):
            if int(n) not in levels:
                levels.append(int(n))
    return tuple(levels)


# --- section classification -----------------------------------------------------------

# internal contexts -> public kinds
_KIND = {
    "document": "document",
    "sev-group": "severity-levels",
    "sev": "severity-levels",
    "process": "response-process",
    "detection": "response-process",
    "assessment": "response-process",
    "immediate-group": "immediate-response",
    "immediate": "immediate-response",
    "comm": "communication",
    "scenario-group": "scenario",
    "scenario": "scenario",
    "post": "post-incident",
    "contacts": "contacts",
    "tools": "tools",
    "unknown": "unknown",
}
_INHERITING = frozenset({"comm", "post", "contacts", "tools"})


def _top_level_context(title: str) -> str:
    t = title.lower()
    if "severity level" in t:
        return "sev-group"
    if "response process" in t:
        return "process"
    if "scenario" in t:
        return "scenario-group"
    if "post-incident" in t or "post incident" in t:
        return "post"
    if "contact" in t:
        return "contacts"
    if "tool" in t:
        return "tools"
    return "unknown"


def _child_context(parent: str, title: str) -> str:
    t = title.lower()
    if parent in _INHERITING:
        return parent
    if parent == "sev-group":
        return "sev" if _SEV_DECL.match(title) else "unknown"
    if parent == "process":
        if "detection" in t:
            return "detection"
        if "assessment" in t:
            return "assessment"
        if "immediate response" in t:
            return "immediate-group"
        if "communication" in t:
            return "comm"
        return "unknown"
    if parent == "immediate-group":
        return "immediate" if title_severities(title) else "unknown"
    if parent == "scenario-group":
        return "scenario" if _SCENARIO.match(title) else "unknown"
    return "unknown"


@dataclass
class _Heading:
    level: int
    title: str
    line: int
    body: list[Token] = field(default_factory=list)
    context: str = "unknown"
    parent: _Heading | None = None


def _fence_roles(context: str) -> tuple[Role | None, Role]:
    """(fixed role or None for the state rule, role of a non-state-changing command)."""
    if context == "detection":
        return Role.DETECTION, Role.DETECTION
    if context in ("assessment", "tools"):
        return Role.INVESTIGATION, Role.INVESTIGATION
    if context == "comm":
        return Role.COMMUNICATION, Role.COMMUNICATION
    if context == "immediate":
        return None, Role.DETECTION
    return None, Role.INVESTIGATION


# --- the parser -------------------------------------------------------------------------


def parse_runbook(path: str | Path) -> Runbook:
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_RUNBOOK_BYTES:  # refused before reading it
            raise RunbookError(name, None, _too_large(size))
        data = Path(path).read_bytes()
    except OSError as e:
        raise RunbookError(name, None, f"cannot read runbook: {e.strerror or e}") from None
    return parse_runbook_bytes(data, name)


def _too_large(size: int) -> str:
    return f"{size / 1e6:.1f} MB: larger than a runbook may be ({MAX_RUNBOOK_BYTES >> 20} MiB)"


def parse_runbook_bytes(data: bytes, path: str = "<runbook>") -> Runbook:
    if len(data) > MAX_RUNBOOK_BYTES:
        raise RunbookError(path, None, _too_large(len(data)))
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise RunbookError(path, line, "binary file (NUL byte), not a Markdown runbook")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise RunbookError(
            path, line, f"not UTF-8: byte 0x{data[e.start]:02x} at offset {e.start}"
        ) from None
    return parse_runbook_text(text, path)


def parse_runbook_text(text: str, path: str = "<runbook>") -> Runbook:
    runbook = _Parser(text, path).parse()
    steps = sum(len(s.steps) for s in runbook.sections)
    if steps > MAX_RUNBOOK_STEPS:
        raise RunbookError(
            path, None, f"{steps} steps: more than a runbook may have ({MAX_RUNBOOK_STEPS})"
        )
    return runbook


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = self.text.split("\n")

    def error(self, line: int | None, message: str) -> RunbookError:
        return RunbookError(self.path, line, message)

    def parse(self) -> Runbook:
        if "\0" in self.text:
            line = self.text.count("\n", 0, self.text.index("\0")) + 1
            raise self.error(line, "binary file (NUL byte), not a Markdown runbook")
        if not self.text.strip():
            raise self.error(None, "empty runbook")
        tokens = MarkdownIt("commonmark").parse(self.text)
        headings = self._headings(tokens)

        doc_title = ""
        severities: dict[int, Severity] = {}
        sections: list[Section] = []
        unknown: list[str] = []
        sev_group_seen = False
        for h in headings:
            if h.context == "document" and not doc_title:
                doc_title = h.title
            sev_group_seen = sev_group_seen or h.context == "sev-group"
            section = Section(
                title=h.title,
                level=h.level,
                line=h.line,
                kind=_KIND[h.context],
                severities=title_severities(h.title),
                parent=h.parent.title if h.parent else None,
            )
            self._check_title_levels(h)
            if h.context == "sev":
                sev = self._severity(h)
                if sev.level in severities:
                    raise self.error(
                        h.line,
                        f"duplicate severity {sev.label} (first declared at line "
                        f"{severities[sev.level].line})",
                    )
                severities[sev.level] = sev
            self._fill(section, h)
            if h.context == "unknown":
                unknown.append(h.title)
            sections.append(section)

        self._check_severities(headings, sections, severities, sev_group_seen)
        return Runbook(
            path=self.path,
            title=doc_title,
            severities=dict(sorted(severities.items())),
            sections=sections,
            unknown_sections=unknown,
        )

    def _check_severities(
        self,
        headings: list[_Heading],
        sections: list[Section],
        severities: dict[int, Severity],
        sev_group_seen: bool,
    ) -> None:
        """A severity group with SEV blocks, and every SEV a section names declared there."""
        if not sev_group_seen:
            raise self.error(None, "no 'Incident Severity Levels' section")
        if not severities:
            group = next(h for h in headings if h.context == "sev-group")
            raise self.error(group.line, "no '### SEV-N: Name' blocks under the severity levels")
        for h, s in zip(headings, sections, strict=True):
            for level in s.severities:
                if level not in severities:
                    raise self.error(
                        h.line, f"section {h.title!r} names SEV-{level}, which is not declared"
                    )

    # -- headings

    def _headings(self, tokens: Sequence[Token]) -> list[_Heading]:
        headings: list[_Heading] = []
        stack: list[_Heading] = []
        preamble: list[Token] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.type == "heading_open" and tok.map is not None:
                level = int(tok.tag[1:])
                title = tokens[i + 1].content.strip()
                while stack and stack[-1].level >= level:
                    stack.pop()
                parent = stack[-1] if stack else None
                h = _Heading(level, title, tok.map[0] + 1, parent=parent)
                if parent is None or parent.context == "document":
                    if level == 1 and not any(x.context == "document" for x in headings):
                        h.context = "document"
                    else:
                        h.context = _top_level_context(title)
                else:
                    h.context = _child_context(parent.context, title)
                headings.append(h)
                stack.append(h)
                i += 3  # heading_open, inline, heading_close
                continue
            (headings[-1].body if headings else preamble).append(tok)
            i += 1
        for tok in preamble:  # fences before any heading still need checking
            if tok.type == "fence":
                self._check_fence_closed(tok)
        return headings

    def _check_title_levels(self, h: _Heading) -> None:
        for level in title_severities(h.title):
            if not MIN_SEV <= level <= MAX_SEV:
                raise self.error(
                    h.line,
                    f"unknown severity level SEV-{level} in {h.title!r} "
                    f"(levels are SEV-{MIN_SEV}..SEV-{MAX_SEV})",
                )

    # -- severity blocks

    def _severity(self, h: _Heading) -> Severity:
        m = _SEV_DECL.match(h.title)
        assert m is not None
        level, name = int(m.group(1)), m.group(2).strip()
        fields: dict[str, tuple[str, int]] = {}
        for tok, line, in_item in self._inlines(h.body):
            if not in_item:
                continue
            lm = _LABEL.match(tok.content.strip())
            if lm:
                key = " ".join(lm.group(1).lower().rstrip(":").split())
                fields.setdefault(key, (" ".join(lm.group(2).split()), line))
        if "response time" not in fields:
            raise self.error(h.line, f"SEV-{level} has no '**Response Time**' item")
        rt_text, rt_line = fields["response time"]
        budget = parse_response_time(rt_text)
        if budget is None:
            raise self.error(
                rt_line, f"SEV-{level}: cannot read a duration from response time {rt_text!r}"
            )
        return Severity(
            level=level,
            name=name,
            definition=fields.get("definition", ("", 0))[0],
            response_time_text=rt_text,
            response_time=budget,
            escalation=fields.get("escalation", ("", 0))[0],
            line=h.line,
        )

    def _inlines(self, body: Sequence[Token]) -> list[tuple[Token, int, bool]]:
        """Inline tokens of paragraphs with (token, 1-based line, inside a list item)."""
        out: list[tuple[Token, int, bool]] = []
        depth = 0
        for tok in body:
            if tok.type == "list_item_open":
                depth += 1
            elif tok.type == "list_item_close":
                depth -= 1
            elif tok.type == "inline" and tok.map is not None:
                out.append((tok, tok.map[0] + 1, depth > 0))
        return out

    # -- section bodies

    def _check_fence_closed(self, tok: Token) -> None:
        assert tok.map is not None
        start, end = tok.map
        last = self.lines[end - 1] if end - 1 < len(self.lines) else ""
        closing = last.strip().lstrip(">").strip()
        marker = tok.markup[0] if tok.markup else "`"
        if end - 1 <= start or not (closing.startswith(tok.markup) and set(closing) <= {marker}):
            raise self.error(start + 1, f"unterminated code fence {tok.markup}{tok.info}")

    def _fill(self, section: Section, h: _Heading) -> None:
        fixed, observe = _fence_roles(h.context)
        label_role: Role | None = None
        pending_label: tuple[str, int] | None = None
        collecting_causes = False
        depth = 0
        for tok in h.body:
            if tok.type == "list_item_open":
                depth += 1
                continue
            if tok.type == "list_item_close":
                depth -= 1
                continue
            if tok.type == "fence":
                self._check_fence_closed(tok)
                collecting_causes = False
                lang = tok.info.strip().split()[0].lower() if tok.info.strip() else ""
                if lang in TEMPLATE_LANGS:
                    section.templates.append(tok.content)
                elif lang in SHELL_LANGS:
                    pending_label = None
                    self._add_steps(section, tok, label_role or fixed, observe)
                continue
            if tok.type == "paragraph_open" and depth == 0 and tok.map is not None:
                collecting_causes = False
                continue
            if tok.type != "inline" or tok.map is None:
                continue
            content = tok.content.strip()
            line = tok.map[0] + 1
            if depth > 0:
                cm = _CHECKBOX.match(content)
                if cm:
                    section.checklist.append(" ".join(cm.group(1).split()))
                elif collecting_causes:
                    section.common_causes.append(" ".join(content.split()))
                continue
            lm = _LABEL.match(content)
            if not lm:
                continue
            key = " ".join(lm.group(1).lower().rstrip(":").split())
            rest = lm.group(2).strip()
            if key in ("investigation steps", "resolution steps"):
                if pending_label is not None:
                    raise self._missing_block(pending_label)
                label_role = Role.INVESTIGATION if key.startswith("inv") else Role.RESOLUTION
                pending_label = (lm.group(1).strip().rstrip(":"), line)
            elif key == "symptoms":
                section.symptoms = " ".join(rest.split())
            elif key == "common causes":
                collecting_causes = True
                label_role = None
        if pending_label is not None:
            raise self._missing_block(pending_label)

    def _missing_block(self, label: tuple[str, int]) -> RunbookError:
        return self.error(label[1], f"'**{label[0]}**' is not followed by a ```bash code block")

    def _add_steps(self, section: Section, tok: Token, fixed: Role | None, observe: Role) -> None:
        assert tok.map is not None
        first_line = tok.map[0] + 2  # 0-based fence line -> 1-based first content line
        for command, comment, line in split_shell_block(tok.content, first_line, self.path):
            if command == "" and _COMMUNICATION_WORDS.search(comment):
                role = Role.COMMUNICATION
            elif fixed is not None:
                role = fixed
            elif command and changes_state(command):
                role = Role.RESOLUTION
            else:
                role = observe
            section.steps.append(Step(command, comment, line, role, section.title))


# --- command line -------------------------------------------------------------------------


def summary(runbook: Runbook) -> str:
    out = [f"{runbook.path}: {runbook.title or '(untitled)'}", "severities:"]
    for sev in runbook.severities.values():
        out.append(
            f"  {sev.label} {sev.name}: budget {sev.response_time} "
            f"({sev.response_time_text}) [line {sev.line}]"
        )
    out.append("sections:")
    for s in runbook.sections:
        sevs = f" {'/'.join(f'SEV-{n}' for n in s.severities)}" if s.severities else ""
        extra = []
        if s.steps:
            extra.append(f"{len(s.steps)} steps")
        if s.checklist:
            extra.append(f"{len(s.checklist)} checklist items")
        if s.templates:
            extra.append(f"{len(s.templates)} templates")
        tail = f" - {', '.join(extra)}" if extra else ""
        out.append(f"  L{s.line:<4} {'#' * s.level} {s.title} [{s.kind}]{sevs}{tail}")
        for st in s.steps:
            first = st.command.split("\n", 1)[0] if st.command else "(manual)"
            more = " ..." if "\n" in st.command else ""
            note = st.comment.split("\n", 1)[0]
            out.append(f"      L{st.line:<4} {st.role.value:<13} {first}{more}  # {note}")
    unknown = ", ".join(repr(t) for t in runbook.unknown_sections) or "none"
    out.append(f"unknown sections: {unknown}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.runbook.parse", description="Parse a runbook and summarise it."
    )
    ap.add_argument("path")
    ap.add_argument("--json", action="store_true", help="print the parsed runbook as JSON")
    args = ap.parse_args(argv)
    try:
        runbook = parse_runbook(args.path)
    except RunbookError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_status
    if args.json:
        print(json.dumps(runbook.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(summary(runbook))
    return 0


if __name__ == "__main__":
    sys.exit(main())
