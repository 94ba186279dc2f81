"""Runbook mutation testing: which runbook steps does a gameday really check?

A *mutant* is the runbook's text with one step changed, as a careless edit would change it:

    resolution step (of the scenario's own section)     detection / investigation step (polled)
      delete          the step's lines blanked            drop-fail     curl without -f / --fail
      reorder         moved after the next resolution     replace-true  the command becomes `true`
      wrong-service   testgen→redis, postgres→redis,      or-true       `|| true` appended
                      ollama→llm, testgen-copilot→…

    runbook text ──derive──▶ mutants ──▶ for each scenario exercising the mutated step:
       Gameday(mutant runbook, scenario).run() ──▶ verdict vs the unmutated runbook's verdict
                                                    differs: KILLED  │  same: SURVIVED (+ why)

The text is mutated, not the parsed model, so the mutant goes through the same parser (a
mutant that no longer parses is *invalid*, not counted) and line numbers keep their meaning:
a deleted step's lines are blanked (every other step keeps its line), a reordered step moves
only between its own line and the next resolution step's last line.

A mutant is *killed* when at least one of its scenarios gives a different verdict than on
the unmutated runbook; the score is killed / (killed + survived). A survivor is a runbook
step the gameday does not really check; where the record of the two runs shows why, the
survivor is classified (another detection step detected first, the step is manual, the
step only reads state, another step does the same, ...).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harness.bridge.registry import bridged_tools
from harness.errors import BadInput, HarnessError, RunbookError
from harness.faults.base import Fault
from harness.result import GamedayResult, StepRun, StepStatus, Verdict
from harness.run.gameday import DETECTION_ROLES, Gameday, StackFactory
from harness.run.scenario import Scenario
from harness.runbook.model import Role, Runbook, Step
from harness.runbook.parse import parse_runbook_text
from harness.shell.commands import changes_state, exported
from harness.shell.manual import manual_reason

SCHEMA = "gameday-mutation/1"
TYPICAL_GAMEDAY_S = 10.0  # a gameday takes ~2-20 s on the local backend
ABORT_ATTEMPTS = 3
# Faults under which the process dies by itself, so the `restart:` policy applies.
DIES_BY_ITSELF = frozenset({"cache-bloat", "process-crash"})
# Faults that are on one service or link (not on testgen's configuration or its memory).
SERVICE_FAULTS = frozenset({"service-killed", "network", "network-multi"})

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


# -- mutants ------------------------------------------------------------------------------


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


def _steps_by_line(runbook: Runbook) -> dict[int, Step]:
    return {s.line: s for section in runbook.sections for s in section.steps}


def exercised_steps(runbook: Runbook, scenario: Scenario) -> tuple[list[Step], list[Step]]:
    """(resolution steps the scenario runs, detection/investigation steps it polls)."""
    section = runbook.section(scenario.section)
    detection = section.steps_with_role(*DETECTION_ROLES)
    for title in scenario.steps_from:
        detection += runbook.section(title).steps_with_role(*DETECTION_ROLES)
    return section.steps_with_role(Role.RESOLUTION), detection


def derive_mutants(
    text: str, path: str, scenarios: Sequence[Scenario]
) -> tuple[list[Mutant], list[Untouched]]:
    """Every mutant of `text` for the steps the scenarios exercise, in runbook order
    (resolution mutants of a step before detection mutants), deduplicated by text."""
    runbook = parse_runbook_text(text, path)
    lines = text.split("\n")
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

    by_line = _steps_by_line(runbook)
    mutants: list[Mutant] = []
    untouched: list[Untouched] = []
    seen = {text}

    def add(
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
        if new_text in seen:
            return
        seen.add(new_text)
        mutants.append(
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

    for line in sorted(set(resolution_users) | set(detection_users)):
        step = by_line[line]
        start, end = _span(step)
        if step.command and "\n".join(lines[start:end]) != step.command:
            untouched.append(
                Untouched(line, step.section, step.command, "command text not found verbatim")
            )
            continue
        if not step.command:
            untouched.append(
                Untouched(line, step.section, f"# {step.comment}", "instruction for a person")
            )
            continue
        if line in resolution_users:
            users = resolution_users[line]
            blank = [""] * (end - start)
            add(
                step,
                "resolution",
                "delete",
                f"delete `{_first(step.command)}`",
                "",
                _replace_lines(lines, start, end, blank),
                users,
            )
            following = [s for s in sections[line] if s.line > line and s.command]
            if following and manual_reason(step.command, step.comment, bridged_tools()) is None:
                nxt = following[0]
                n_start, n_end = _span(nxt)
                if nxt.command != step.command:
                    moved = lines[:start] + lines[end:n_end] + lines[start:end] + lines[n_end:]
                    add(
                        step,
                        "resolution",
                        "reorder",
                        f"move `{_first(step.command)}` after line {nxt.line} "
                        f"`{_first(nxt.command)}`",
                        step.command,
                        "\n".join(moved),
                        users,
                        partner=nxt.line,
                    )
            for i, (mutated, what) in enumerate(wrong_service_variants(step.command), 1):
                add(
                    step,
                    "resolution",
                    "wrong-service",
                    f"{what}: `{_first(mutated)}`",
                    mutated,
                    _replace_lines(lines, start, end, mutated.split("\n")),
                    users,
                    suffix=f"-{i}" if i > 1 else "",
                )
        if line in detection_users:
            users = detection_users[line]
            reason = manual_reason(step.command, step.comment, bridged_tools())
            if reason is not None:
                untouched.append(
                    Untouched(line, step.section, step.command, f"manual, never polled: {reason}")
                )
                continue
            dropped = drop_fail(step.command)
            if dropped is not None:
                add(
                    step,
                    "detection",
                    "drop-fail",
                    f"drop curl's -f: `{_first(dropped)}`",
                    dropped,
                    _replace_lines(lines, start, end, dropped.split("\n")),
                    users,
                )
            blank_rest = [""] * (end - start - 1)
            add(
                step,
                "detection",
                "replace-true",
                f"`{_first(step.command)}` → `true`",
                "true",
                _replace_lines(lines, start, end, ["true", *blank_rest]),
                users,
            )
            weakened = or_true(step.command)
            add(
                step,
                "detection",
                "or-true",
                f"append `|| true`: `{_last(weakened)}`",
                weakened,
                _replace_lines(lines, start, end, weakened.split("\n")),
                users,
            )
    return mutants, untouched


def _first(command: str) -> str:
    first = command.split("\n", 1)[0]
    return first + (" …" if "\n" in command else "")


def _last(command: str) -> str:
    return command.rsplit("\n", 1)[-1].strip() if "\n" in command else command


# -- outcomes ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """One scenario run against one mutant."""

    scenario: str
    original_verdict: str
    verdict: str  # the mutant's verdict, or "error"
    killed: bool
    why: str  # killed: the verdict change; survived: the classification
    duration_s: float = 0.0
    detected_line: int | None = None
    ttr_s: float | None = None
    # Survived, and the classifier explains why the verdict cannot depend on the change
    # (manual or read-only step, another step does the same, ...): an equivalent mutant.
    equivalent: bool = False


UNEXPLAINED = "… (no automatic explanation"


@dataclass
class MutantResult:
    mutant: Mutant
    status: str  # "killed" | "survived" | "invalid" | "error"
    outcomes: list[Outcome] = field(default_factory=list)
    note: str = ""  # invalid: the parse error

    def to_dict(self) -> dict[str, Any]:
        m = asdict(self.mutant)
        m.pop("text")
        return {
            **m,
            "status": self.status,
            "note": self.note,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


@dataclass
class OriginalRun:
    scenario: str
    verdict: str
    duration_s: float
    detected_line: int | None
    ttd_s: float | None
    ttr_s: float | None
    reason: str = ""


@dataclass
class MutationReport:
    runbook: str
    backend: str
    scenarios: list[str]
    started_at: str
    originals: dict[str, OriginalRun] = field(default_factory=dict)
    results: list[MutantResult] = field(default_factory=list)
    untouched: list[Untouched] = field(default_factory=list)
    total_mutants: int = 0  # derived, before --max-mutants
    duration_s: float = 0.0
    finished: bool = False

    @property
    def killed(self) -> list[MutantResult]:
        return [r for r in self.results if r.status == "killed"]

    @property
    def survived(self) -> list[MutantResult]:
        return [r for r in self.results if r.status == "survived"]

    @property
    def equivalent(self) -> list[MutantResult]:
        """Survivors every outcome of which is explained: the verdict cannot depend on them."""
        return [
            r
            for r in self.survived
            if r.outcomes and all(o.equivalent or o.verdict == "error" for o in r.outcomes)
        ]

    @property
    def score(self) -> float | None:
        """Killed over non-equivalent mutants (equivalent survivors are not counted)."""
        counted = len(self.killed) + len(self.survived) - len(self.equivalent)
        return len(self.killed) / counted if counted else None

    def pair_score(self) -> tuple[int, int]:
        """(killed, counted) over (mutant, scenario) pairs."""
        pairs = [o for r in self.results for o in r.outcomes if o.verdict != "error"]
        return sum(o.killed for o in pairs), len(pairs)

    def to_dict(self) -> dict[str, Any]:
        killed, pairs = self.pair_score()
        return {
            "schema": SCHEMA,
            "runbook": self.runbook,
            "backend": self.backend,
            "scenarios": self.scenarios,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
            "finished": self.finished,
            "total_mutants": self.total_mutants,
            "score": {
                "killed": len(self.killed),
                "survived": len(self.survived),
                "equivalent": len(self.equivalent),
                "invalid": sum(r.status == "invalid" for r in self.results),
                "error": sum(r.status == "error" for r in self.results),
                "mutation_score": self.score,
                "pairs_killed": killed,
                "pairs": pairs,
            },
            "originals": {k: asdict(v) for k, v in self.originals.items()},
            "mutants": [r.to_dict() for r in self.results],
            "untouched": [asdict(u) for u in self.untouched],
        }


def report_from_dict(data: dict[str, Any]) -> MutationReport:
    """A saved `--json` report, for rendering again (the mutant texts are not stored)."""
    if data.get("schema") != SCHEMA:
        raise BadInput(f"not a {SCHEMA} report (schema {data.get('schema')!r})")
    report = MutationReport(
        runbook=data["runbook"],
        backend=data["backend"],
        scenarios=list(data["scenarios"]),
        started_at=data["started_at"],
        originals={k: OriginalRun(**v) for k, v in data["originals"].items()},
        untouched=[Untouched(**u) for u in data.get("untouched", [])],
        total_mutants=data.get("total_mutants", 0),
        duration_s=data.get("duration_s", 0.0),
        finished=data.get("finished", False),
    )
    for m in data["mutants"]:
        fields = {k: m[k] for k in Mutant.__dataclass_fields__ if k in m and k != "text"}
        fields["scenarios"] = tuple(fields["scenarios"])
        report.results.append(
            MutantResult(
                Mutant(**fields, text=""),
                m["status"],
                [Outcome(**o) for o in m["outcomes"]],
                m.get("note", ""),
            )
        )
    return report


def _detector(result: GamedayResult) -> StepRun | None:
    return next((s for s in result.steps if s.detected), None)


def _resolve_run(result: GamedayResult, line: int) -> StepRun | None:
    return next((s for s in result.steps if s.phase == "resolve" and s.line == line), None)


def _fault_targets(fault: Fault) -> set[str]:
    targets: set[str] = set()
    for attr in ("service", "link"):
        value = getattr(fault, attr, None)
        if isinstance(value, str):
            targets.add(value)
    for inner in getattr(fault, "faults", ()) or ():
        targets |= _fault_targets(inner)
    if getattr(fault, "provider", None):
        targets.add("llm")
    if fault.kind in ("cache-bloat", "memory-pressure"):
        targets.add("testgen")
    return targets


_COMPOSE_ACTION = re.compile(
    r"^docker-compose\s+(?P<verb>restart|up|start)\b(?P<args>[^|;&#]*)", re.MULTILINE
)


def _compose_targets(command: str) -> tuple[str, set[str]] | None:
    """("up", {"testgen"}) for `docker-compose up -d testgen`; an empty set means all."""
    m = _COMPOSE_ACTION.search(command.strip())
    if not m:
        return None
    names = {w for w in m.group("args").split() if not w.startswith("-") and "=" not in w}
    return m.group("verb"), names


def _covering_step(step: Step, siblings: Iterable[Step]) -> Step | None:
    """Another resolution step of the section that has the same effect on the same service."""
    mine = _compose_targets(step.command)
    for other in siblings:
        if other.line == step.line or not other.command:
            continue
        if other.command.strip() == step.command.strip():
            return other
        theirs = _compose_targets(other.command)
        if mine is None or theirs is None:
            continue
        verb, services = theirs
        if verb == "up" and (not services or mine[1] and mine[1] <= services):
            return other
    return None


def classify_survivor(
    mutant: Mutant,
    scenario: Scenario,
    runbook: Runbook,
    original: GamedayResult,
    result: GamedayResult,
) -> str:
    """Why the verdict did not change, as far as the two records show it."""
    step = _steps_by_line(runbook)[mutant.line]
    if mutant.role == "detection":
        return _classify_detection(mutant, original, result)
    reason = manual_reason(step.command, step.comment, bridged_tools())
    if reason is not None:
        return f"step is manual ({reason}): the gameday never runs it"
    if not _acts(step.command):
        return (
            "step only reads state (it changes nothing), so the verdict cannot depend on it: "
            "it is output for a person, not a check"
        )
    before = _resolve_run(original, mutant.line)
    if before is not None and before.status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
        first = (before.stderr or before.stdout).strip().splitlines()[:1]
        return (
            f"step fails in the unmutated run too (exit {before.exit_code}"
            + (f": {first[0][:120]}" if first else "")
            + "), so recovery never depended on it"
        )
    siblings = runbook.section(scenario.section).steps_with_role(Role.RESOLUTION)
    guard = _guard_only(step.command, mutant)
    if guard is not None:
        after = _resolve_run(result, mutant.line)
        if after is not None and after.status == StepStatus.OK:
            return (
                f"the mutation changed only the check before `||` (`{guard}`); the action "
                "after it still ran as before, so the step acts the same"
            )
    if mutant.operator == "wrong-service":
        after = _resolve_run(result, mutant.line)
        status = f"exit {after.exit_code}" if after and after.exit_code is not None else "not run"
        change = f"pointing it at the wrong service ({status})"
    elif mutant.operator == "reorder":
        change = "running it later"
        partner = _steps_by_line(runbook).get(mutant.partner or 0)
        exports = [exported(c) for c in (step.command, partner.command if partner else "")]
        mine, theirs = _acted_services(step.command), _acted_services(
            partner.command if partner else ""
        )
        if partner is not None and mine and theirs and not mine & theirs:
            return (
                f"{change} did not change recovery because it acts on "
                f"{', '.join(sorted(mine))} and the step it moved past (line {partner.line} "
                f"`{_first(partner.command)}`) on {', '.join(sorted(theirs))}: the two commute"
            )
        if partner is not None and all(exports) and not set(exports[0]) & set(exports[1]):
            return (
                f"{change} did not change recovery because it and line {partner.line} "
                f"`{_first(partner.command)}` export different variables: the two commute"
            )
        if partner is not None:
            kind = (
                "is manual (never runs)"
                if manual_reason(partner.command, partner.comment, bridged_tools())
                else None
                if _acts(partner.command)
                else "only reads state"
            )
            if kind:
                return (
                    f"{change} did not change recovery because the step it moved past (line "
                    f"{partner.line} `{_first(partner.command)}`) {kind}: the steps that act "
                    "still act in the same order"
                )
            later = [
                s
                for s in siblings
                if s.line > partner.line and (_compose_targets(s.command) or ("", set()))[0] == "up"
            ]
            if later and _covering_step(step, siblings) is None:
                return (
                    f"{change} did not change recovery because the step still runs, and line "
                    f"{later[0].line} `{_first(later[0].command)}` starts the services after it"
                )
    else:
        change = "removing the step"
    return (
        f"{change} did not change recovery because {_not_needed(step, siblings, scenario, result)}"
    )


# Which service a data tool acts on, when the step names no service of its own.
_TOOL_SERVICES = {"redis-cli": "redis", "psql": "postgres", "pg_isready": "postgres"}


def _acted_services(command: str) -> set[str]:
    """The compose services a state-changing step acts on ({} if unknown or all)."""
    if not _acts(command):
        return set()
    targets = _compose_targets(command)
    if targets is not None:
        return set(targets[1])
    words = command.split()
    return {_TOOL_SERVICES[w] for w in words[:1] if w in _TOOL_SERVICES}


def _guard_only(command: str, mutant: Mutant) -> str | None:
    """The mutated guard when a wrong-service mutant changed only the `check` of
    `check || action`; None otherwise."""
    if mutant.operator != "wrong-service" or "||" not in command or "||" not in mutant.mutated:
        return None
    check, _, action = command.partition("||")
    new_check, _, new_action = mutant.mutated.partition("||")
    if new_action.strip() == action.strip() and new_check.strip() != check.strip():
        return new_check.strip()
    return None


def _acts(command: str) -> bool:
    """Changes state: the runbook parser's rule (one reader of command text)."""
    return changes_state(command)




def _not_needed(
    step: Step, siblings: Sequence[Step], scenario: Scenario, result: GamedayResult
) -> str:
    cover = _covering_step(step, siblings)
    if cover is not None:
        return f"line {cover.line} `{_first(cover.command)}` does the same for this service"
    if result.verdict == Verdict.RECOVERED_AFTER_LIFT:
        return (
            "the runbook's steps do not restore service under this fault either way: it "
            "recovers only once the world lifts the fault (recovered-after-lift)"
        )
    fault = scenario.fault()
    acted = _compose_targets(step.command)
    targets = _fault_targets(fault)
    if fault.kind in DIES_BY_ITSELF and acted and acted[0] == "restart" and acted[1] & targets:
        return (
            f"{', '.join(sorted(acted[1] & targets))} dies by itself under this fault, so its "
            "restart policy restarts it without the step"
        )
    impact = result.impact
    if impact.incident_requests and not impact.incident_failed:
        return (
            f"no request failed during the incident even with the mutation (0 of "
            f"{impact.incident_requests}), so verify (health, ready, a generate round trip, "
            "the ledger, held for the hold window) passes either way, and the fault check "
            + (
                f"says: {result.fault_check.evidence}"
                if result.fault_check.present
                else "found the fault gone"
                if result.fault_check.checked
                else "was not available"
            )
        )
    if fault.kind in SERVICE_FAULTS and acted and acted[1] and not acted[1] & targets:
        return (
            f"it acts on {', '.join(sorted(acted[1]))} while the fault is on "
            f"{', '.join(sorted(targets))}, which recovers without it"
        )
    if fault.kind in SERVICE_FAULTS:
        for other in siblings:
            theirs = _compose_targets(other.command) if other.line != step.line else None
            if theirs and (not theirs[1] or targets <= theirs[1]):
                return (
                    f"line {other.line} `{_first(other.command)}` already brings back "
                    f"{', '.join(sorted(targets))}, the only service this fault took down"
                )
    return (
        f"{UNEXPLAINED}: the step ran with exit 0 in the unmutated run, yet "
        "the verdict does not depend on it)"
    )


def _classify_detection(mutant: Mutant, original: GamedayResult, result: GamedayResult) -> str:
    if any(n.startswith(f"line {mutant.line}:") for n in original.noisy_steps):
        return "step is noisy on the healthy stack (its exit status flips): it never counts"
    if result.verdict == Verdict.UNDETECTED:
        return "the scenario is undetected with or without this step"
    if result.verdict == Verdict.ABORTED:
        return "the gameday aborted with or without this step (steady state never held)"
    orig_det, mut_det = _detector(original), _detector(result)
    if mut_det is None:
        return "no detection step is recorded in the mutant run"
    if mut_det.line == mutant.line:
        return (
            f"the weakened step still detects: under this fault it exits {mut_det.exit_code} "
            f"(baseline {mut_det.baseline_exit}), so `{mutant.operator}` changes nothing here"
        )
    where = f"line {mut_det.line} `{_first(mut_det.command)}`"
    if orig_det is not None and orig_det.line == mutant.line:
        return (
            f"another detection step took over: {where} detected "
            f"(TTD {_s(original.ttd_s)} → {_s(result.ttd_s)})"
        )
    return f"another detection step detected first: {where}"


# -- the run ------------------------------------------------------------------------------


Progress = Callable[[str], None]


class MutationRun:
    """Derive the mutants of one runbook and run them against the selected scenarios."""

    def __init__(
        self,
        runbook_path: Path,
        scenarios: Sequence[Scenario],
        stack_factory: StackFactory,
        backend: str,
        max_mutants: int | None = None,
        only: Sequence[str] = (),
        progress: Progress = print,
        checkpoint: Callable[[MutationReport], None] | None = None,
    ) -> None:
        self.path = runbook_path
        self.text = _read_text(runbook_path)
        self.runbook = parse_runbook_text(self.text, str(runbook_path))
        for scenario in scenarios:
            try:
                exercised_steps(self.runbook, scenario)
            except KeyError as exc:
                raise BadInput(f"{runbook_path}: scenario {scenario.id}: {exc.args[0]}") from None
        self.scenarios = {s.id: s for s in scenarios}
        self.stack_factory = stack_factory
        all_mutants, self.untouched = derive_mutants(self.text, str(runbook_path), scenarios)
        if only:
            known = {m.id for m in all_mutants}
            unknown = [m for m in only if m not in known]
            if unknown:
                raise BadInput(
                    f"no mutant {unknown[0]!r} for these scenarios "
                    "(gameday mutate --list shows them)"
                )
            all_mutants = [m for m in all_mutants if m.id in only]
        self.total = len(all_mutants)
        self.mutants = all_mutants[:max_mutants] if max_mutants is not None else all_mutants
        self.backend = backend
        self.progress = progress
        self.checkpoint = checkpoint

    @property
    def gamedays(self) -> int:
        return len(self.scenarios) + sum(len(m.scenarios) for m in self.mutants)

    def estimate_s(self, per_scenario: dict[str, float] | None = None) -> float:
        def cost(sid: str) -> float:
            return (per_scenario or {}).get(sid, TYPICAL_GAMEDAY_S)

        mutants = sum(cost(s) for m in self.mutants for s in m.scenarios)
        return mutants + (0.0 if per_scenario else len(self.scenarios) * TYPICAL_GAMEDAY_S)

    def _gameday(self, runbook: Runbook, scenario: Scenario) -> GamedayResult:
        return Gameday(runbook, scenario, self.stack_factory).run()

    def _tested(self, runbook: Runbook, scenario: Scenario) -> GamedayResult | str:
        """A gameday that tested something, or why none did. ABORTED (the stack never came
        up or never reached steady state, the fault never took) happens before any runbook
        step can matter, so it says nothing about the mutant: such runs are retried."""
        why = ""
        for _ in range(ABORT_ATTEMPTS):
            try:
                result = self._gameday(runbook, scenario)
            except HarnessError as exc:
                why = f"{type(exc).__name__}: {exc}"
                continue
            if result.verdict != Verdict.ABORTED:
                return result
            why = f"aborted: {result.reason}"
        return f"{ABORT_ATTEMPTS} attempts, none tested anything; last: {why[:300]}"

    def run(self) -> MutationReport:
        started = time.monotonic()
        report = MutationReport(
            runbook=str(self.path),
            backend=self.backend,
            scenarios=list(self.scenarios),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            untouched=list(self.untouched),
            total_mutants=self.total,
        )
        originals: dict[str, GamedayResult] = {}
        for sid, scenario in self.scenarios.items():
            tested = self._tested(self.runbook, scenario)
            if isinstance(tested, str):
                raise HarnessError(f"the unmutated runbook's {sid} gameday: {tested}")
            result = originals[sid] = tested
            det = _detector(result)
            report.originals[sid] = OriginalRun(
                sid,
                result.verdict.value,
                result.duration_s,
                det.line if det else None,
                result.ttd_s,
                result.ttr_s,
                result.reason,
            )
            self.progress(
                f"unmutated  {sid:<28} {result.verdict.value:<14} {result.duration_s:5.1f}s"
            )
        measured = {sid: r.duration_s for sid, r in originals.items()}
        self.progress(
            f"estimate from the unmutated runs: ~{_minutes(self.estimate_s(measured))} for "
            f"{sum(len(m.scenarios) for m in self.mutants)} mutant gamedays"
        )
        for index, mutant in enumerate(self.mutants, 1):
            outcome = self._run_mutant(mutant, originals)
            report.results.append(outcome)
            verdicts = ", ".join(f"{o.scenario}: {o.verdict}" for o in outcome.outcomes)
            self.progress(
                f"[{index}/{len(self.mutants)}] {mutant.id:<26} {outcome.status.upper():<8} "
                f"{verdicts or outcome.note}"
            )
            report.duration_s = time.monotonic() - started
            if self.checkpoint:
                self.checkpoint(report)
        report.duration_s = time.monotonic() - started
        report.finished = True
        if self.checkpoint:
            self.checkpoint(report)
        return report

    def _run_mutant(self, mutant: Mutant, originals: dict[str, GamedayResult]) -> MutantResult:
        try:
            runbook = parse_runbook_text(mutant.text, str(self.path))
            for sid in mutant.scenarios:
                exercised_steps(runbook, self.scenarios[sid])
        except (RunbookError, KeyError) as exc:
            return MutantResult(mutant, "invalid", note=f"the mutant does not parse: {exc}")
        result = MutantResult(mutant, "survived")
        for sid in mutant.scenarios:
            scenario, original = self.scenarios[sid], originals[sid]
            run = self._tested(runbook, scenario)
            if isinstance(run, str):  # the stack, not the runbook: no verdict to compare
                result.outcomes.append(Outcome(sid, original.verdict.value, "error", False, run))
                continue
            killed = run.verdict != original.verdict
            if killed:
                why = f"{original.verdict.value} → {run.verdict.value}" + (
                    f": {run.reason[:300]}" if run.reason else ""
                )
            else:
                why = classify_survivor(mutant, scenario, self.runbook, original, run)
            det = _detector(run)
            equivalent = not killed and UNEXPLAINED not in why
            result.outcomes.append(
                Outcome(
                    sid,
                    original.verdict.value,
                    run.verdict.value,
                    killed,
                    why,
                    run.duration_s,
                    det.line if det else None,
                    run.ttr_s,
                    equivalent,
                )
            )
        if any(o.killed for o in result.outcomes):
            result.status = "killed"
        elif result.outcomes and all(o.verdict == "error" for o in result.outcomes):
            result.status = "error"
        return result


def _read_text(path: Path) -> str:
    """The runbook's text; unreadable or non-UTF-8 input fails as the parser reports it."""
    from harness.runbook.parse import parse_runbook_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunbookError(str(path), None, f"cannot read runbook: {exc.strerror or exc}") from None
    parse_runbook_bytes(data, str(path))  # NUL bytes, bad UTF-8, structure: file and line
    return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


# -- views --------------------------------------------------------------------------------


def table(report: MutationReport) -> str:
    rows = [f"{'mutant':<26} {'status':<9} {'scenario verdicts (unmutated → mutant)'}"]
    for r in report.results:
        cells = "; ".join(
            f"{o.scenario} {o.original_verdict}→{o.verdict}" + (" ✗" if o.killed else "")
            for o in r.outcomes
        )
        rows.append(f"{r.mutant.id:<26} {r.status:<9} {cells or r.note}")
    return "\n".join(rows)


def score_line(report: MutationReport) -> str:
    killed, survived = len(report.killed), len(report.survived)
    equivalent = len(report.equivalent)
    pk, pairs = report.pair_score()
    score = report.score
    text = (
        f"mutation score: {killed}/{killed + survived - equivalent}"
        + (f" = {score:.0%}" if score is not None else "")
        + f" killed ({equivalent} equivalent survivors not counted; "
        f"{pk}/{pairs} mutant×scenario runs)"
    )
    skipped = report.total_mutants - len(report.results)
    if skipped > 0:
        text += f"; {skipped} of {report.total_mutants} mutants not run (--max-mutants)"
    return text


def to_markdown(report: MutationReport, title: str = "Runbook mutation report") -> str:
    score = report.score
    killed, survived = len(report.killed), len(report.survived)
    equivalent = len(report.equivalent)
    pk, pairs = report.pair_score()
    out = [
        f"# {title}",
        "",
        f"`gameday mutate --runbook {report.runbook}` on the {report.backend} backend, "
        f"started {report.started_at}, {report.duration_s / 60:.0f} min"
        + ("" if report.finished else " (**interrupted: partial results**)")
        + ".",
        "",
        "A mutant is the runbook's text with one step changed (deleted, reordered, pointed at "
        "the wrong service; detection steps weakened). It is **killed** when a scenario that "
        "exercises the step gives another verdict than on the unmutated runbook; a "
        "**survivor** is a runbook step the gameday does not really check.",
        "",
        f"**Mutation score: {killed}/{killed + survived - equivalent}"
        + (f" = {score:.0%}" if score is not None else "")
        + f"** of the non-equivalent mutants ({equivalent} survivors are equivalent: each "
        "outcome has a one-line reason why the verdict cannot depend on the change; "
        f"{pk}/{pairs} mutant × scenario runs changed the verdict; "
        f"{sum(r.status == 'invalid' for r in report.results)} invalid, "
        f"{sum(r.status == 'error' for r in report.results)} errors).",
        "",
        "## Unmutated runbook",
        "",
        "| scenario | verdict | detected by | TTD | TTR | duration |",
        "|---|---|---|---|---|---|",
    ]
    for orig in report.originals.values():
        out.append(
            f"| {orig.scenario} | {orig.verdict} | "
            + (f"line {orig.detected_line}" if orig.detected_line else "-")
            + f" | {_s(orig.ttd_s)} | {_s(orig.ttr_s)} | {orig.duration_s:.1f}s |"
        )
    by_op: dict[str, list[int]] = {}
    for r in report.results:
        if r.status in ("killed", "survived"):
            counts = by_op.setdefault(r.mutant.operator, [0, 0])
            counts[0 if r.status == "killed" else 1] += 1
    out += [
        "",
        "## Score by mutation operator",
        "",
        "| operator | killed | survived |",
        "|---|---|---|",
    ]
    out += [f"| {op} | {k} | {s} |" for op, (k, s) in sorted(by_op.items())]
    out += ["", "## Survivors", ""]
    if not report.survived:
        out.append("None.")
    for r in report.survived:
        m = r.mutant
        out += [
            f"### {m.id}: line {m.line} ({m.section}, {m.role})",
            "",
            f"- step: `{_first(m.command)}`",
            f"- mutation ({m.operator}): {m.description}",
        ]
        for o in r.outcomes:
            out.append(f"- **{o.scenario}** ({o.verdict} as before): {o.why}")
        out.append("")
    partial = [(r, o) for r in report.killed for o in r.outcomes if not o.killed]
    if partial:
        out += [
            "## Killed mutants that some scenario did not notice",
            "",
            "The mutant changed another scenario's verdict, but not these ones':",
            "",
        ]
        for r, o in partial:
            out.append(
                f"- **{r.mutant.id}** (line {r.mutant.line}, {r.mutant.description}) on "
                f"**{o.scenario}** ({o.verdict} as before): {o.why}"
            )
        out.append("")
    out += [
        "## Every mutant",
        "",
        "| mutant | line | operator | mutation | status | verdicts |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        cells = "<br>".join(f"{o.scenario}: {o.original_verdict} → {o.verdict}" for o in r.outcomes)
        out.append(
            f"| {r.mutant.id} | {r.mutant.line} | {r.mutant.operator} | "
            f"{_cell(r.mutant.description)} | {r.status} | {_cell(cells or r.note)} |"
        )
    killed_rows = [(r, o) for r in report.killed for o in r.outcomes if o.killed]
    if killed_rows:
        out += [
            "",
            "## How each mutant was killed",
            "",
            "| mutant | scenario | change |",
            "|---|---|---|",
        ]
        out += [f"| {r.mutant.id} | {o.scenario} | {_cell(o.why[:220])} |" for r, o in killed_rows]
    if report.untouched:
        out += [
            "",
            "## Steps not mutated",
            "",
            "| line | section | step | why |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {u.line} | {u.section} | {_cell(_first(u.command))} | {_cell(u.reason)} |"
            for u in report.untouched
        ]
    return "\n".join(out) + "\n"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- CLI ----------------------------------------------------------------------------------


def main(args: Any, out: TextIO = sys.stdout) -> int:
    """`gameday mutate`: validate everything, print the estimate, run, print the table."""
    from harness.options import report_writer, scenarios_from, stack_factory
    from harness.suite import catalog

    # The built-in scenarios plus the runbook's own <runbook>.scenarios.toml.
    scenarios = scenarios_from(args.scenario, catalog.for_runbook(args.runbook))
    if args.max_mutants is not None and args.max_mutants < 1:
        raise BadInput(f"--max-mutants must be at least 1, not {args.max_mutants}")
    backend, compose, factory = stack_factory(args.backend, args.compose)
    checkpoint = report_writer(args, to_markdown)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    run = MutationRun(
        Path(args.runbook),
        scenarios,
        factory,
        backend,
        max_mutants=args.max_mutants,
        only=args.mutant,
        progress=say,
        checkpoint=checkpoint,
    )
    say(
        f"{run.total} mutants of {run.path} for {len(scenarios)} scenario(s)"
        + (f"; running the first {len(run.mutants)}" if len(run.mutants) < run.total else "")
        + f": {run.gamedays} gamedays, estimated ~{_minutes(run.estimate_s())} "
        f"(a gameday takes ~2-20 s)"
    )
    if args.list:
        for m in run.mutants:
            say(f"{m.id:<26} {m.role:<10} {m.description}  [{', '.join(m.scenarios)}]")
        return 0
    try:
        report = run.run()
    except BadInput:
        raise
    except HarnessError as exc:  # the stack cannot give a reference verdict: nothing to compare
        print(f"gameday: mutate: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    say("")
    say(table(report))
    say("")
    for r in report.survived:
        for o in r.outcomes:
            say(f"survivor {r.mutant.id} (line {r.mutant.line}, {o.scenario}): {o.why}")
    say(score_line(report))
    return 0
