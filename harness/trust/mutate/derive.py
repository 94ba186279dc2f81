"""Deriving runbook mutants: the runbook's text with one step changed, as a careless edit
would change it.

    resolution step (of the scenario's own section)     detection / investigation step (polled)
      delete          the step's lines blanked            drop-fail     curl without -f / --fail
      reorder         moved after the next resolution     replace-true  the command becomes `true`
      wrong-service   testgen→redis, postgres→redis,      or-true       `|| true` appended
                      ollama→llm, testgen-copilot→…

The text is mutated, not the parsed model, so the mutant goes through the same parser (a
mutant that no longer parses is *invalid*, not counted) and line numbers keep their meaning:
a deleted step's lines are blanked (every other step keeps its line), a reordered step moves
only between its own line and the next resolution step's last line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from harness.bridge.registry import bridged_tools
from harness.run.gameday import DETECTION_ROLES
from harness.run.scenario import Scenario
from harness.runbook.model import Role, Runbook, Step
from harness.runbook.parse import parse_runbook_text
from harness.shell.manual import manual_reason

# "Point it at the wrong service": production's service and container names, and ports.
SERVICE_SWAPS = {
    "testgen": "redis",
    "postgres": "redis",
    "redis": "postgres",
    "ollama": "llm",
    "llm": "ollama",
}
CONTAINER_SWAPS = {
    "testgen-copilot": "testgen-redis",
    "testgen-postgres": "testgen-redis",
    "testgen-redis": "testgen-postgres",
}
PORT_SWAPS = {"8000": "6379", "5432": "6379", "6379": "5432"}
_NAME_EDGE = r"[\w./-]"
_SERVICE_WORD = re.compile(
    rf"(?<!{_NAME_EDGE})(?P<name>{'|'.join(map(re.escape, CONTAINER_SWAPS))}|"
    rf"{'|'.join(map(re.escape, SERVICE_SWAPS))})(?!{_NAME_EDGE})"
)
_PORT_WORD = re.compile(
    rf"(?:(?<=localhost:)|(?<=127\.0\.0\.1:)|(?<=\s-p\s)|(?<=\s))(?P<port>{'|'.join(PORT_SWAPS)})"
    r"(?=/tcp\b|[/\s]|$)"
)
_USER_OPTION = re.compile(r"(?:^|\s)(?:-U|-u|--user|--username)\s*$")
_CURL_FAIL_SHORT = re.compile(r"(?<=\s)-(?P<before>[a-zA-Z]*)f(?P<after>[a-zA-Z]*)(?=\s|$)")
_CURL_FAIL_LONG = re.compile(r"\s--fail(?:-with-body)?(?=\s|$)")


@dataclass(frozen=True)
class Mutant:
    """One changed runbook text, and the scenarios that exercise the changed step."""

    id: str  # "L66-delete", "L102-wrong-service-2"
    line: int  # the original step's first line
    role: str  # "resolution" | "detection"
    section: str
    operator: str  # delete | reorder | wrong-service | drop-fail | replace-true | or-true
    description: str  # in words: "delete `docker-compose restart testgen`"
    command: str  # the step as written in the runbook
    mutated: str  # the step after the mutation ("" when deleted)
    scenarios: tuple[str, ...]
    text: str = field(repr=False, compare=False)  # the whole mutant runbook
    partner: int | None = None  # reorder: the line of the step it was moved after


@dataclass(frozen=True)
class Untouched:
    """A step of an exercised section that gets no mutant, and why."""

    line: int
    section: str
    command: str
    reason: str


def _span(step: Step) -> tuple[int, int]:
    """0-based [start, end) of the step's lines in the runbook text."""
    return step.line - 1, step.line - 1 + step.command.count("\n") + 1


def _replace_lines(lines: list[str], start: int, end: int, new: list[str]) -> str:
    return "\n".join(lines[:start] + new + lines[end:])


def _unquoted_comment(command: str) -> int | None:
    """Offset of a trailing `# comment` outside quotes, or None."""
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1] in " \t"):
            return i
    return None


def wrong_service_variants(command: str) -> list[tuple[str, str]]:
    """(mutated command, "testgen → redis") for each service, container or port it names."""
    out: list[tuple[str, str]] = []
    for m in _SERVICE_WORD.finditer(command):
        if _USER_OPTION.search(command[: m.start()]):
            continue  # `psql -U testgen`: a database user, not a service
        name = m.group("name")
        new = CONTAINER_SWAPS.get(name) or SERVICE_SWAPS[name]
        out.append((command[: m.start()] + new + command[m.end() :], f"{name} → {new}"))
    for m in _PORT_WORD.finditer(command):
        port = m.group("port")
        new = PORT_SWAPS[port]
        out.append((command[: m.start()] + new + command[m.end() :], f"port {port} → {new}"))
    return out


def drop_fail(command: str) -> str | None:
    """The command with curl's -f / --fail removed, or None if it has none."""
    at = command.find("curl ")
    if at < 0:
        return None
    head, tail = command[:at], command[at:]
    new_tail = _CURL_FAIL_LONG.sub("", tail)

    def strip_f(m: re.Match[str]) -> str:
        flags = m.group("before") + m.group("after")
        return f"-{flags}" if flags else ""

    new_tail = _CURL_FAIL_SHORT.sub(strip_f, new_tail, count=1)
    new_tail = re.sub(r"curl  +", "curl ", new_tail)
    return head + new_tail if new_tail != tail else None


def or_true(command: str) -> str:
    comment = _unquoted_comment(command)
    if comment is None:
        return command.rstrip() + " || true"
    return command[:comment].rstrip() + " || true  " + command[comment:]


def steps_by_line(runbook: Runbook) -> dict[int, Step]:
    return {s.line: s for section in runbook.sections for s in section.steps}


def exercised_steps(runbook: Runbook, scenario: Scenario) -> tuple[list[Step], list[Step]]:
    """(resolution steps the scenario runs, detection/investigation steps it polls)."""
    section = runbook.section(scenario.section)
    detection = section.steps_with_role(*DETECTION_ROLES)
    for title in scenario.steps_from:
        detection += runbook.section(title).steps_with_role(*DETECTION_ROLES)
    return section.steps_with_role(Role.RESOLUTION), detection


class _Deriver:
    """Collects the mutants of one runbook text, deduplicated by text."""

    def __init__(self, text: str, bridged: Collection[str]) -> None:
        self.lines = text.split("\n")
        self.bridged = bridged
        self.mutants: list[Mutant] = []
        self.untouched: list[Untouched] = []
        self.seen = {text}

    def add(
        self,
        step: Step,
        role: str,
        operator: str,
        desc: str,
        mutated: str,
        new_text: str,
        users: list[str],
        suffix: str = "",
        partner: int | None = None,
    ) -> None:
        if new_text in self.seen:
            return
        self.seen.add(new_text)
        self.mutants.append(
            Mutant(
                id=f"L{step.line}-{operator}{suffix}",
                line=step.line,
                role=role,
                section=step.section,
                operator=operator,
                description=desc,
                command=step.command,
                mutated=mutated,
                scenarios=tuple(dict.fromkeys(users)),
                text=new_text,
                partner=partner,
            )
        )

    def replaced(self, step: Step, new: list[str]) -> str:
        start, end = _span(step)
        return _replace_lines(self.lines, start, end, new)

    def resolution(self, step: Step, section: list[Step], users: list[str]) -> None:
        """delete, reorder (after the next resolution step), wrong-service."""
        start, end = _span(step)
        desc = f"delete `{first_line(step.command)}`"
        self.add(
            step, "resolution", "delete", desc, "", self.replaced(step, [""] * (end - start)), users
        )
        following = [s for s in section if s.line > step.line and s.command]
        if following and manual_reason(step.command, step.comment, self.bridged) is None:
            nxt = following[0]
            n_start, n_end = _span(nxt)
            if nxt.command != step.command:
                lines = self.lines
                moved = lines[:start] + lines[end:n_end] + lines[start:end] + lines[n_end:]
                desc = (
                    f"move `{first_line(step.command)}` after line {nxt.line} "
                    f"`{first_line(nxt.command)}`"
                )
                self.add(
                    step, "resolution", "reorder", desc, step.command, "\n".join(moved), users,
                    partner=nxt.line,
                )  # fmt: skip
        for i, (mutated, what) in enumerate(wrong_service_variants(step.command), 1):
            self.add(
                step, "resolution", "wrong-service", f"{what}: `{first_line(mutated)}`", mutated,
                self.replaced(step, mutated.split("\n")), users, suffix=f"-{i}" if i > 1 else "",
            )  # fmt: skip

    def detection(self, step: Step, users: list[str]) -> None:
        """drop-fail, replace-true, or-true; a manual step is never polled, so not mutated."""
        reason = manual_reason(step.command, step.comment, self.bridged)
        if reason is not None:
            why = f"manual, never polled: {reason}"
            self.untouched.append(Untouched(step.line, step.section, step.command, why))
            return
        dropped = drop_fail(step.command)
        if dropped is not None:
            desc = f"drop curl's -f: `{first_line(dropped)}`"
            new_text = self.replaced(step, dropped.split("\n"))
            self.add(step, "detection", "drop-fail", desc, dropped, new_text, users)
        start, end = _span(step)
        new_text = self.replaced(step, ["true", *[""] * (end - start - 1)])
        desc = f"`{first_line(step.command)}` → `true`"
        self.add(step, "detection", "replace-true", desc, "true", new_text, users)
        weakened = or_true(step.command)
        desc = f"append `|| true`: `{_last(weakened)}`"
        new_text = self.replaced(step, weakened.split("\n"))
        self.add(step, "detection", "or-true", desc, weakened, new_text, users)

    def skipped(self, step: Step) -> str | None:
        """Why a step exercised by a scenario gets no mutant, or None."""
        start, end = _span(step)
        if step.command and "\n".join(self.lines[start:end]) != step.command:
            return "command text not found verbatim"
        if not step.command:
            return "instruction for a person"
        return None


def derive_mutants(
    text: str, path: str, scenarios: Sequence[Scenario]
) -> tuple[list[Mutant], list[Untouched]]:
    """Every mutant of `text` for the steps the scenarios exercise, in runbook order
    (resolution mutants of a step before detection mutants), deduplicated by text."""
    runbook = parse_runbook_text(text, path)
    resolution_users: dict[int, list[str]] = {}
    detection_users: dict[int, list[str]] = {}
    sections: dict[int, list[Step]] = {}  # resolution step line -> its section's resolution steps
    for scenario in scenarios:
        resolution, detection = exercised_steps(runbook, scenario)
        for step in resolution:
            resolution_users.setdefault(step.line, []).append(scenario.id)
            sections[step.line] = resolution
        for step in detection:
            detection_users.setdefault(step.line, []).append(scenario.id)

    by_line = steps_by_line(runbook)
    deriver = _Deriver(text, bridged_tools())
    for line in sorted(set(resolution_users) | set(detection_users)):
        step = by_line[line]
        why = deriver.skipped(step)
        if why is not None:
            shown = step.command or f"# {step.comment}"
            deriver.untouched.append(Untouched(line, step.section, shown, why))
            continue
        if line in resolution_users:
            deriver.resolution(step, sections[line], resolution_users[line])
        if line in detection_users:
            deriver.detection(step, detection_users[line])
    return deriver.mutants, deriver.untouched


def first_line(command: str) -> str:
    """The command's first line, with `…` when more follow (how reports quote a step)."""
    first = command.split("\n", 1)[0]
    return first + (" …" if "\n" in command else "")


def _last(command: str) -> str:
    return command.rsplit("\n", 1)[-1].strip() if "\n" in command else command
