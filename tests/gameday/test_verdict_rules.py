"""Table tests of the pure verdict function: one hand-built record per rule, no stack.

Each case names the rule it pins; `test_rule_removed_changes_verdict` shows that each new
rule decides its case (the verdict differs when the rule's input is taken away).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.result import StepRun, StepStatus, Verdict
from harness.run.verdict import Observations, Verification, decide, fails_at_baseline

SECTION = "Scenario 4: Database Connection Issues"


def step(line: int, command: str, status: StepStatus = StepStatus.OK, exit_code: int = 0,
         **kw: object) -> StepRun:
    return StepRun(
        phase=str(kw.pop("phase", "resolve")), section=SECTION, comment="", command=command,
        line=line, role="resolution", status=status, exit_code=exit_code, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


DETECTOR = step(39, "curl -f http://localhost:8000/health", StepStatus.FAILED, 7, phase="detect",
                started=3.0, duration=0.05, baseline_exit=0, detected=True)  # fmt: skip
RESTART = step(120, "docker-compose restart postgres")
HELD = Verification(held=True, observed="ok", first_seen_s=4.0, confirmed_s=7.0,
                    fault_checked=True)  # fmt: skip
DOWN = Verification(held=False, observed="/ready answered 503", fault_checked=True)


def obs(**kw: object) -> Observations:
    base = Observations(
        section=SECTION,
        budget_s=300.0,
        fault_confirmed="postgres killed",
        detected_by=DETECTOR,
        detect_window_s=20.0,
        resolution=[RESTART],
        remediations=["line 120"],
        verify=HELD,
        acknowledged=10,
        ledger_checked=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


CASES = [
    # (rule, observations, verdict, words the reason must contain)
    ("steady state never held: aborted, nothing tested",
     obs(steady_state_held=False, steady_state_observed="/health answered 500"),
     Verdict.ABORTED, "steady state never held"),
    ("fault never observed: aborted",
     obs(fault_confirmed=None, fault_error="network: never observed"),
     Verdict.ABORTED, "never observed"),
    ("detected, steps acted, held within budget: recovered",
     obs(), Verdict.RECOVERED, ""),
    ("held after the budget: slow",
     obs(verify=replace(HELD, first_seen_s=400.0, confirmed_s=403.0)),
     Verdict.SLOW, "budget 300s"),
    ("an acknowledged job unreadable: data loss, naming the step",
     obs(lost=3, destroyed_after="line 191 `docker-compose down -v`"),
     Verdict.DATA_LOSS, "after line 191"),
    ("never came back: not recovered, with the stack's state",
     obs(verify=DOWN, diagnosis=["containers: testgen-postgres Exited (137)"]),
     Verdict.NOT_RECOVERED, "testgen-postgres Exited"),
    ("attribution: recovered only after the lift",
     obs(verify=DOWN, lift="after-resolution", after_lift=HELD),
     Verdict.RECOVERED_AFTER_LIFT, "did not restore service"),
    ("attribution: not even after the lift",
     obs(verify=DOWN, lift="after-resolution", after_lift=DOWN),
     Verdict.NOT_RECOVERED, "did not recover"),
    ("no remediation step: never recovered, even if the service holds",
     obs(resolution=[step(130, "docker logs testgen-copilot")], remediations=[]),
     Verdict.NOT_RECOVERED, "no step that changes anything"),
    ("hold: came back, then restarted inside the hold window",
     obs(verify=Verification(held=False, observed="/health: ConnectError", ever_seen_s=5.0,
                             lost="after 1.2s (testgen restarted or was killed)",
                             disturbances=["testgen restarted or was killed at t0+8.1s"])),
     Verdict.NOT_RECOVERED, "recovered at t0+5.0s, then lost after 1.2s"),
    ("fault gone: the fault is the incident and persists",
     obs(verify=replace(HELD, fault_present="2 cache entries still carry 48 MiB payloads")),
     Verdict.NOT_RECOVERED, "still in effect"),
    ("fault gone: an external cause routed around is not required gone",
     obs(fault_is_incident=False,
         verify=replace(HELD, fault_present="the openai provider is still in mode quota")),
     Verdict.RECOVERED, ""),
    ("second finding: undetected, and the resolution would not recover",
     obs(detected_by=None, verify=DOWN, diagnosis=["testgen-copilot still runs with "
         "PRIMARY_LLM_PROVIDER=openai; export reaches only the operator's shell"]),
     Verdict.UNDETECTED, "changed its exit status"),
    ("undetected because the symptom stopped by itself: aborted, the runbook not blamed",
     obs(detected_by=None, verify=DOWN,
         symptom_stopped="testgen-copilot was not OOM-killed again after the first kill"),
     Verdict.ABORTED, "fault not in effect during the detection window"),
    ("a symptom that stopped does not excuse a detection that saw it: the outcome stands",
     obs(verify=DOWN, symptom_stopped="testgen-copilot was not OOM-killed again"),
     Verdict.NOT_RECOVERED, "did not recover"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "record", "verdict", "words"), CASES, ids=[c[0] for c in CASES])
def test_verdict_rule(rule: str, record: Observations, verdict: Verdict, words: str) -> None:
    decision = decide(record)
    assert decision.verdict == verdict, f"{rule}: {decision.reason}"
    assert words in decision.reason


def test_second_finding_carries_the_resolution_outcome() -> None:
    record = obs(detected_by=None, verify=DOWN, diagnosis=["export reaches only the shell"])
    decision = decide(record)
    assert decision.finding is not None
    assert decision.finding.verdict == Verdict.NOT_RECOVERED
    assert "export reaches only the shell" in decision.finding.reason
    recovered = decide(obs(detected_by=None)).finding
    assert recovered is not None and recovered.verdict == Verdict.RECOVERED


def test_a_recovered_verdict_carries_first_seen_and_confirmed_times() -> None:
    decision = decide(obs())
    assert (decision.ttr_s, decision.confirmed_s) == (4.0, 7.0)


def test_unchecked_names_what_the_verdict_did_not_check() -> None:
    manual = step(140, "", StepStatus.MANUAL, None, manual_reason="kubectl")  # type: ignore[arg-type]
    decision = decide(
        obs(
            verify=replace(HELD, fault_checked=False),
            ledger_checked=False,
            resolution=[RESTART, manual],
            unchecked=["the memory limit (not enforced on this machine)"],
        )
    )
    text = "; ".join(decision.unchecked)
    assert "whether the fault itself was gone" in text
    assert "acknowledged jobs" in text
    assert "line 140" in text
    assert "memory limit" in text
    assert decide(obs()).unchecked == []


@pytest.mark.parametrize(
    ("record", "without"),
    [
        # attribution: with the first verify failing, only the lift explains recovery
        (obs(verify=DOWN, lift="after-resolution", after_lift=HELD), {"verify": HELD}),
        # remediation rule
        (obs(remediations=[]), {"remediations": ["line 120"]}),
        # hold: a disturbance that broke the hold
        (
            obs(verify=Verification(held=False, observed="x", first_seen_s=5.0,
                                    disturbances=["testgen restarted"])),
            {"verify": HELD},
        ),
        # fault gone
        (obs(verify=replace(HELD, fault_present="squatter on 8000")), {"verify": HELD}),
        # second finding: detection missing
        (obs(detected_by=None), {"detected_by": DETECTOR}),
        # symptom stopped by itself: not a verdict on the runbook's detection
        (obs(detected_by=None, symptom_stopped="no OOM kill since"), {"detected_by": DETECTOR}),
    ],
)  # fmt: skip
def test_rule_removed_changes_verdict(record: Observations, without: dict[str, object]) -> None:
    """Each rule decides its case: give the record what the rule objects to, and the
    verdict changes back to recovered."""
    assert decide(record).verdict != Verdict.RECOVERED
    assert decide(replace(record, **without)).verdict == Verdict.RECOVERED  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("command", "exits", "failing"),
    [
        ("curl http://localhost:6379/", [52, 52], True),  # Redis drops HTTP: always 52
        ("curl -f http://localhost:8000/health", [0, 0], False),
        ("tail -20 /var/log/testgen/app.log | grep -q llm_error", [1, 1], False),  # a search
        ("docker run --rm testgen-copilot:latest env | grep TESTGEN", [1, 1], False),
        ("python -c 'import sys; sys.exit(1)'", [1, 1], True),
        ("kubectl get pods", [None, None], False),  # manual: never ran
        ("curl -f http://localhost:8000/ready", [22, 0], False),  # noisy, not failing
    ],
)
def test_failing_at_baseline(command: str, exits: list[int | None], failing: bool) -> None:
    assert fails_at_baseline(command, exits) is failing


def test_a_failure_worded_differently_is_the_same_failure_but_another_failing_part_is_not():
    """The verify window's early end compares what failed, not the error's wording: Redis
    killed reads "Connection closed by server." then "Error 111 connecting ..."."""
    from harness.run.verify import failure_signature

    closed = '/ready answered 503: {"postgres":"ok","redis":"error: Connection closed by server."}'
    refused = '/ready answered 503: {"postgres":"ok","redis":"error: Error 111 connecting to x."}'
    both = '/ready answered 503: {"postgres":"error: timeout","redis":"error: Error 111 x."}'
    assert failure_signature(closed) == failure_signature(refused)
    assert failure_signature(closed) != failure_signature(both)
    assert failure_signature("ConnectError: [Errno 111] refused (a)") == failure_signature(
        "ConnectError: [Errno 111] refused (b)"
    )
    assert failure_signature("/health answered 502") != failure_signature("/health answered 503")
