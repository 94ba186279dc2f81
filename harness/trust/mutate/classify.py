"""Classifying survivors: why a mutant's verdict did not change, as far as the records of
the unmutated and the mutated run show it (the step is manual, only reads state, another
step does the same, the fault recovers by itself, another detection step detected first,
...). A reason that explains it makes the survivor *equivalent* (the verdict cannot depend on
the change); anything else is reported as `UNEXPLAINED`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harness.bridge.registry import bridged_tools
from harness.faults.base import Fault
from harness.result import GamedayResult, StepRun, StepStatus, Verdict
from harness.run.scenario import Scenario
from harness.runbook.model import Role, Runbook, Step
from harness.shell.commands import acted_services, changes_state, compose_action, exported
from harness.shell.manual import manual_reason
from harness.trust.mutate.derive import Mutant, first_line, steps_by_line

# Faults under which the process dies by itself, so the `restart:` policy applies.
DIES_BY_ITSELF = frozenset({"cache-bloat", "process-crash"})
# Faults that are on one service or link (not on testgen's configuration or its memory).
SERVICE_FAULTS = frozenset({"service-killed", "network", "network-multi"})
UNEXPLAINED = "… (no automatic explanation"


def detector(result: GamedayResult) -> StepRun | None:
    """The step that detected the fault in this run, if any."""
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


def _covering_step(step: Step, siblings: Iterable[Step]) -> Step | None:
    """Another resolution step of the section that has the same effect on the same service."""
    mine = compose_action(step.command)
    for other in siblings:
        if other.line == step.line or not other.command:
            continue
        if other.command.strip() == step.command.strip():
            return other
        theirs = compose_action(other.command)
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
    step = steps_by_line(runbook)[mutant.line]
    if mutant.role == "detection":
        return _classify_detection(mutant, original, result)
    reason = _never_mattered(step, mutant, original)
    if reason is not None:
        return reason
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
        partner = steps_by_line(runbook).get(mutant.partner or 0)
        if partner is not None:
            reason = _reorder_commutes(step, partner, siblings)
            if reason is not None:
                return f"{change} did not change recovery because {reason}"
    else:
        change = "removing the step"
    return (
        f"{change} did not change recovery because {_not_needed(step, siblings, scenario, result)}"
    )


def _never_mattered(step: Step, mutant: Mutant, original: GamedayResult) -> str | None:
    """The step could not matter whatever the mutation: manual, read-only, or failing in
    the unmutated run too."""
    reason = manual_reason(step.command, step.comment, bridged_tools())
    if reason is not None:
        return f"step is manual ({reason}): the gameday never runs it"
    if not changes_state(step.command):
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
    return None


def _reorder_commutes(step: Step, partner: Step, siblings: Sequence[Step]) -> str | None:
    """Why moving `step` after `partner` cannot change recovery, or None."""
    mine, theirs = acted_services(step.command), acted_services(partner.command)
    where = f"line {partner.line} `{first_line(partner.command)}`"
    if mine and theirs and not mine & theirs:
        return (
            f"it acts on {', '.join(sorted(mine))} and the step it moved past ({where}) on "
            f"{', '.join(sorted(theirs))}: the two commute"
        )
    exports = [exported(step.command), exported(partner.command)]
    if all(exports) and not set(exports[0]) & set(exports[1]):
        return f"it and {where} export different variables: the two commute"
    if manual_reason(partner.command, partner.comment, bridged_tools()):
        kind: str | None = "is manual (never runs)"
    else:
        kind = None if changes_state(partner.command) else "only reads state"
    if kind:
        return (
            f"the step it moved past ({where}) {kind}: the steps that act still act in the "
            "same order"
        )
    later = [
        s
        for s in siblings
        if s.line > partner.line and (compose_action(s.command) or ("", set()))[0] == "up"
    ]
    if later and _covering_step(step, siblings) is None:
        return (
            f"the step still runs, and line {later[0].line} `{first_line(later[0].command)}` "
            "starts the services after it"
        )
    return None


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


def _not_needed(
    step: Step, siblings: Sequence[Step], scenario: Scenario, result: GamedayResult
) -> str:
    cover = _covering_step(step, siblings)
    if cover is not None:
        return f"line {cover.line} `{first_line(cover.command)}` does the same for this service"
    if result.verdict == Verdict.RECOVERED_AFTER_LIFT:
        return (
            "the runbook's steps do not restore service under this fault either way: it "
            "recovers only once the world lifts the fault (recovered-after-lift)"
        )
    fault = scenario.fault()
    acted = compose_action(step.command)
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
            theirs = compose_action(other.command) if other.line != step.line else None
            if theirs and (not theirs[1] or targets <= theirs[1]):
                return (
                    f"line {other.line} `{first_line(other.command)}` already brings back "
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
    orig_det, mut_det = detector(original), detector(result)
    if mut_det is None:
        return "no detection step is recorded in the mutant run"
    if mut_det.line == mutant.line:
        return (
            f"the weakened step still detects: under this fault it exits {mut_det.exit_code} "
            f"(baseline {mut_det.baseline_exit}), so `{mutant.operator}` changes nothing here"
        )
    where = f"line {mut_det.line} `{first_line(mut_det.command)}`"
    if orig_det is not None and orig_det.line == mutant.line:
        return (
            f"another detection step took over: {where} detected "
            f"(TTD {seconds(original.ttd_s)} → {seconds(result.ttd_s)})"
        )
    return f"another detection step detected first: {where}"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"
