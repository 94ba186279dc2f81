"""The verdict: a pure function of what a gameday observed.

The runner (`harness.run.gameday`) only gathers records; `decide` turns them into the verdict,
its reason, the second finding and the list of what was not checked. Nothing here touches a
stack, so every rule is tested on hand-built records (tests/gameday/test_verdict_rules.py).

Rules (docs/design.md §1), in the order they apply:

    steady state never held / fault never observed ─────────────────▶ ABORTED
    the resolution's outcome, whether or not detection saw the fault:
        verify window, the fault as the world left it (no lift yet):
            steady state seen, then held for the hold window with no restart or OOM kill,
            and the fault gone where the fault is the incident
                no state-changing resolution step ran ─────────────▶ NOT-RECOVERED
                an acknowledged job is no longer readable ─────────▶ DATA-LOSS
                TTR within the SEV budget ─────────────────────────▶ RECOVERED (else SLOW,
                                                   naming a detection after the budget)
            only the API's rate limit kept the probe from confirming ─▶ ABORTED (unchecked)
            otherwise, if the world lifts the fault: lift, verify again
                held after the lift ───────────────────────────────▶ RECOVERED-AFTER-LIFT
            otherwise ─────────────────────────────────────────────▶ NOT-RECOVERED
    no detection step left its baseline:
        the injector saw its symptom stop by itself ──▶ ABORTED, the outcome as second finding
        otherwise ─────────────────────────────────▶ UNDETECTED, the outcome as second finding
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from harness.result import Finding, StepRun, StepStatus, Verdict

# The reason of a gameday whose fault stopped by itself before any detection (see `decide`).
SYMPTOM_STOPPED = "fault not in effect during the detection window"


@dataclass
class Verification:
    """One verify window: did steady state come back and hold?"""

    held: bool  # seen, then held for the whole hold window without restarts
    observed: str  # the last probe's observation
    first_seen_s: float | None = None  # from t0: start of the stretch that held
    confirmed_s: float | None = None  # from t0: end of the hold window
    disturbances: list[str] = field(default_factory=list)  # restarts/OOM kills that broke a hold
    fault_checked: bool = False  # the injector could tell whether its fault is in effect
    fault_present: str | None = None  # evidence that it still is, at the end of the window
    ever_seen_s: float | None = None  # from t0: recovery first seen at all in this window
    lost: str = ""  # a stretch that broke: "after N s (what broke it)"
    unconfirmed: str = ""  # what the API's rate limit kept the probe from checking
    ended_early: str = ""  # why a failing window ended before its end (provably stable)


@dataclass
class Observations:
    """Everything the verdict rules read, as the runner recorded it."""

    section: str
    budget_s: float
    steady_state_held: bool = True
    steady_state_observed: str = ""
    fault_confirmed: str | None = None  # the injector's evidence; None: never observed
    fault_error: str = ""
    fault_is_incident: bool = True
    lift: str = "never"  # when the world lifts the fault's external cause
    detected_by: StepRun | None = None
    ttd_s: float | None = None  # from t0, when detection saw the fault
    detect_window_s: float = 20.0  # the scenario's, never cut by the budget (always > 0)
    detect_note: str = ""  # polling rounds, runnable/manual/noisy counts
    symptom_stopped: str = ""  # undetected, and the injector saw its symptom stop by itself
    resolution: list[StepRun] = field(default_factory=list)
    remediations: list[str] = field(default_factory=list)  # state-changing steps that ran
    destroyed_after: str | None = None  # the step after which the jobs table was gone
    verify: Verification | None = None  # the fault as the world left it
    after_lift: Verification | None = None  # after the world lifted the fault
    acknowledged: int = 0
    lost: int = 0
    ledger_checked: bool = False
    diagnosis: list[str] = field(default_factory=list)  # stack state for a not-recovered reason
    unchecked: list[str] = field(default_factory=list)  # from the runner (e.g. no memory limit)


@dataclass
class Decision:
    verdict: Verdict
    reason: str = ""
    ttr_s: float | None = None
    confirmed_s: float | None = None
    finding: Finding | None = None
    unchecked: list[str] = field(default_factory=list)


def decide(obs: Observations) -> Decision:
    if not obs.steady_state_held:
        return Decision(Verdict.ABORTED, f"steady state never held: {obs.steady_state_observed}")
    if obs.fault_confirmed is None:
        return Decision(Verdict.ABORTED, obs.fault_error or "the fault was never observed")
    if obs.detect_window_s <= 0:
        raise ValueError(f"a detection window of {obs.detect_window_s}s cannot have run")
    outcome = resolution_outcome(obs)
    outcome.unchecked = _unchecked(obs)
    if obs.detected_by is not None:
        return outcome
    if obs.symptom_stopped:  # nothing was left to detect: the runbook is not blamed
        return Decision(
            Verdict.ABORTED,
            f"{SYMPTOM_STOPPED}: {obs.symptom_stopped}; the "
            "harness did not judge the runbook's detection",
            finding=Finding(outcome.verdict, outcome.reason, outcome.ttr_s),
            unchecked=outcome.unchecked,
        )
    reason = (
        f"no detection step of '{obs.section}' changed its exit status within "
        f"{obs.detect_window_s:g}s" + (f" ({obs.detect_note})" if obs.detect_note else "")
    )
    finding = Finding(outcome.verdict, outcome.reason, outcome.ttr_s)
    return Decision(Verdict.UNDETECTED, reason, finding=finding, unchecked=outcome.unchecked)


def resolution_outcome(obs: Observations) -> Decision:
    """What the resolution steps achieved, judged as if the incident had been declared."""
    first = obs.verify
    if first is not None and _recovered(first, obs):
        ttr = first.first_seen_s
        if not obs.remediations:
            return Decision(
                Verdict.NOT_RECOVERED,
                f"'{obs.section}' has no step that changes anything: the service held steady "
                "state by itself" + _persisting(first),
            )
        if obs.lost:
            return Decision(Verdict.DATA_LOSS, _data_loss(obs), ttr, first.confirmed_s)
        if ttr is not None and ttr <= obs.budget_s:
            return Decision(Verdict.RECOVERED, "", ttr, first.confirmed_s)
        return Decision(Verdict.SLOW, _slow(obs, ttr), ttr, first.confirmed_s)
    if first is not None and _unconfirmable(first):
        return Decision(
            Verdict.ABORTED,
            "recovery could not be confirmed within the API's rate limit for the gameday's "
            f"own probe (last probe: {first.observed}); the harness did not judge the runbook",
        )
    why = _not_recovered(first, obs)
    lifted = obs.after_lift
    if lifted is not None and _recovered(lifted, obs):
        if obs.lost:
            return Decision(Verdict.DATA_LOSS, _data_loss(obs), lifted.first_seen_s)
        return Decision(
            Verdict.RECOVERED_AFTER_LIFT,
            "self-healed once the world lifted the fault (as the scenario's owners would, "
            f"{obs.lift}); the runbook's steps did not restore service: {why}",
            lifted.first_seen_s,
            lifted.confirmed_s,
        )
    reason = why
    if obs.destroyed_after:
        reason += f"; and {obs.destroyed_after} destroyed the database's data"
    return Decision(Verdict.NOT_RECOVERED, reason)


def _slow(obs: Observations, ttr: float | None) -> str:
    """Late, with the times: detection over the budget is named first (it made TTR late)."""
    late = f"recovered after {ttr or 0:.1f}s, budget {obs.budget_s:g}s"
    if obs.ttd_s is not None and obs.ttd_s > obs.budget_s:
        return f"detected after {obs.ttd_s:.1f}s (over the budget), {late}"
    return late


def _unconfirmable(v: Verification) -> bool:
    """Recovery was never confirmed only because the API's rate limit kept the probe's
    generate round trip from being made: not a verdict on the runbook."""
    return not v.held and bool(v.unconfirmed) and not v.lost and not v.disturbances


def _recovered(v: Verification, obs: Observations) -> bool:
    return v.held and not (obs.fault_is_incident and v.fault_present)


def _persisting(v: Verification) -> str:
    return f"; the fault is still in effect: {v.fault_present}" if v.fault_present else ""


def _not_recovered(v: Verification | None, obs: Observations) -> str:
    if v is None:
        return "the service was not verified"
    if v.held and v.fault_present:
        head = (
            "steady state held but the fault is still in effect: "
            f"{v.fault_present} (the incident is not over)"
        )
    elif (seen := v.ever_seen_s if v.ever_seen_s is not None else v.first_seen_s) is not None:
        # Seen, then lost: never "did not recover".
        head = f"recovered at t0+{seen:.1f}s, then lost " + (
            v.lost or f"it ({'; '.join(v.disturbances[:3]) or v.observed})"
        )
        if v.disturbances and v.lost:
            head += "; " + "; ".join(v.disturbances[:3])
        head += f"; last probe: {v.observed}"
    else:
        head = f"after the resolution steps the service did not recover: {v.observed}"
        if v.disturbances:
            head += " (" + "; ".join(v.disturbances[:3]) + ")"
    parts = [head]
    if not obs.resolution:
        parts.append(f"'{obs.section}' has no resolution step")
    elif not obs.remediations:
        parts.append(f"no resolution step of '{obs.section}' changes anything")
    if v.fault_present and not v.held and not obs.diagnosis:
        parts.append(f"still in effect: {v.fault_present}")
    for run in obs.resolution:
        if run.status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
            first = (run.stderr or run.stdout).strip().splitlines()[:1]
            parts.append(
                f"step line {run.line} `{run.command}` exited {run.exit_code}"
                + (f": {first[0][:160]}" if first else "")
            )
    parts.extend(d for d in obs.diagnosis if d not in parts)
    return "; ".join(parts)


def _data_loss(obs: Observations) -> str:
    culprit = f" after {obs.destroyed_after}" if obs.destroyed_after else ""
    return f"{obs.lost} of {obs.acknowledged} acknowledged jobs are no longer readable{culprit}"


def _unchecked(obs: Observations) -> list[str]:
    out = list(obs.unchecked)
    windows = [v for v in (obs.verify, obs.after_lift) if v is not None]
    if any(not v.fault_checked for v in windows):
        out.append("whether the fault itself was gone (its injector cannot tell)")
    out.extend(v.unconfirmed for v in windows if v.unconfirmed)
    if not obs.ledger_checked:
        if any(v.ever_seen_s is not None for v in windows):
            out.append(
                "acknowledged jobs (not read back: the service came back but did not hold "
                "steady state)"
            )
        else:
            out.append("acknowledged jobs (the service never came back to read them)")
    manual = [r for r in obs.resolution if r.status == StepStatus.MANUAL]
    if manual:
        out.append(
            f"{len(manual)} manual resolution step(s), not run: "
            + "; ".join(f"line {r.line}" for r in manual)
        )
    return out


# -- the negative control ----------------------------------------------------------------

_SEARCHES = frozenset({"grep", "egrep", "fgrep", "rg"})


def fails_at_baseline(command: str, exits: list[int | None]) -> bool:
    """A detection step that fails on every healthy run, as an error rather than as a search
    that found nothing: it cannot tell a fault from the normal state (e.g. `curl
    http://localhost:6379/` always exits 52: Redis drops HTTP).

    `grep` exiting 1 ("no match") is a search's healthy answer: such a step detects by
    starting to match, and is not failing."""
    if not exits or any(e is None or e == 0 for e in exits):
        return False
    searching = all(e == 1 for e in exits) and _last_program(command) in _SEARCHES
    return not searching


def _last_program(command: str) -> str:
    last = command.replace("\\\n", " ").split("|")[-1]
    try:
        words = shlex.split(last, comments=True)
    except ValueError:
        words = last.split()
    return words[0].rsplit("/", 1)[-1] if words else ""
