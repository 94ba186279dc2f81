"""No observer effect: the harness's probe and load stay under the API's declared rate limit,
and a limit that throttles the harness's own probe is never a verdict on the runbook.

Table tests of the budget (a hand-driven clock), of the verify window's loop (a scripted
probe over a stack with nothing restarting), and of the verdict rule; no live stack.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.observe.probes import Observation
from harness.observe.ratelimit import RateBudget, peak_per_window, read_declared
from harness.result import Verdict
from harness.run.verdict import Verification, decide
from harness.run.verify import VerifyWindow
from harness.services.contract import configured_rate_limit
from tests.gameday.test_verdict_rules import HELD, obs

# -- the budget --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def sent_in_a_minute(limit: int, every_s: float = 0.1) -> list[float]:
    clock = Clock()
    budget = RateBudget("probe", limit, clock=clock)
    sent = []
    for _ in range(int(120 / every_s)):
        if budget.try_acquire():
            sent.append(clock.t)
        clock.t += every_s
    return sent


@pytest.mark.parametrize("limit", [1, 2, 10, 60, 6000])
def test_the_budget_never_sends_more_than_the_declared_limit_in_any_minute(limit: int) -> None:
    sent = sent_in_a_minute(limit)
    assert 0 < peak_per_window(sent) < limit or limit == 1 and peak_per_window(sent) == 1


def test_the_budget_spreads_its_requests_so_a_hold_can_still_be_confirmed_later() -> None:
    sent = sent_in_a_minute(10)
    assert len(sent) >= 2
    assert min(b - a for a, b in zip(sent, sent[1:], strict=False)) >= 60 / 8 - 1e-9


def test_the_budget_learns_the_limit_and_waits_out_a_429() -> None:
    clock = Clock()
    budget = RateBudget("probe", clock=clock)  # nothing known: the API will say
    assert budget.try_acquire()
    budget.learn(200, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"})
    assert budget.limit == 10 and budget.wait_s() > 0  # spaced under 10/min from now on
    clock.t += 60
    assert budget.try_acquire()
    budget.learn(429, {"Retry-After": "42", "RateLimit-Limit": "10"})
    assert budget.rate.throttled == 1
    clock.t += 41
    assert not budget.try_acquire()
    clock.t += 1.5
    assert budget.try_acquire()


def test_nothing_left_in_the_window_holds_the_client_back_until_the_reset() -> None:
    clock = Clock()
    budget = RateBudget("probe", 6000, clock=clock)
    assert budget.try_acquire()
    budget.learn(
        200, {"RateLimit-Limit": "6000", "RateLimit-Remaining": "0", "RateLimit-Reset": "7"}
    )
    clock.t += 6.5
    assert not budget.try_acquire()
    clock.t += 1
    assert budget.try_acquire()


@pytest.mark.parametrize(
    ("headers", "limit", "remaining", "retry"),
    [
        ({"RateLimit-Limit": "10", "RateLimit-Remaining": "3"}, 10, 3, None),
        ({"x-ratelimit-limit": "10, 10;w=60", "X-RateLimit-Remaining": "0"}, 10, 0, None),
        ({"Retry-After": "60"}, None, None, 60.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, None, None),
        ({"X-RateLimit-Limit": "lots"}, None, None, None),
    ],
)
def test_declared_limits_are_read_from_the_standard_headers(
    headers: dict[str, str], limit: int | None, remaining: int | None, retry: float | None
) -> None:
    d = read_declared(headers)
    assert (d.limit, d.remaining, d.retry_after_s) == (limit, remaining, retry)


@pytest.mark.parametrize(
    ("env", "limit"),
    [({"LLM_RATE_LIMIT": "10"}, 10), ({"LLM_RATE_LIMIT": "0"}, None), ({}, None),
     ({"LLM_RATE_LIMIT": "ten"}, None)],
)  # fmt: skip
def test_the_deployments_configured_limit(env: dict[str, str], limit: int | None) -> None:
    assert configured_rate_limit(env) == limit


def test_the_probe_rate_is_recorded_as_the_busiest_minute() -> None:
    clock = Clock()
    budget = RateBudget("gameday-probe", 10, clock=clock, gameday_clock=clock)
    for _ in range(300):
        budget.count_request()
        budget.try_acquire()
        clock.t += 0.5
    record = budget.rate.as_record()
    assert record["requests"] == 300 + record["generate_requests"]  # type: ignore[operator]
    assert record["generate_per_min"] == 8 and record["declared_limit_per_min"] == 10
    assert record["held_back"] == 300 - record["generate_requests"]  # type: ignore[operator]


# -- the verify window: a throttled probe never breaks a hold ----------------------------


class NothingRestarts:
    def containers(self) -> dict[str, object]:
        return {}


class NoCheck:
    def still_in_effect(self, stack: object) -> str | None:
        raise NotImplementedError


class ScriptedProber:
    """Answers from a script, one per probe; the last answer repeats."""

    def __init__(self, answers: list[Observation], clock: Clock, limit: int | None = 10) -> None:
        self.answers, self.clock = answers, clock
        self.budget = RateBudget("gameday-probe", limit)

    def __call__(self, want_generate: bool = True) -> Observation:
        self.clock.t += 0.5  # each probe takes half a second of scripted time
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


FULL = Observation(True, "health 200, ready 200, generate 200 and job read back", True)
THROTTLED = Observation(True, "health 200, ready 200; generate not checked: 429", False)
DOWN = Observation(False, "/ready answered 503", False)


def verify(answers: list[Observation], hold_s: float = 0.2, window_s: float = 1.0) -> Verification:
    clock = Clock()
    window = VerifyWindow(
        NothingRestarts(), NoCheck(), ScriptedProber(answers, clock), clock,  # type: ignore[arg-type]
        lambda kind, detail: None, hold_s=hold_s, window_s=window_s, poll_interval=0.0,
        sleep=lambda s: None,
    )  # fmt: skip
    return window.run(t0=clock.t, phase="verify")


def test_a_throttled_generate_inside_the_hold_does_not_break_it() -> None:
    v = verify([DOWN, FULL, THROTTLED, THROTTLED, FULL, FULL])
    assert v.held and not v.lost and not v.unconfirmed
    assert v.first_seen_s == v.ever_seen_s == 0.5  # the stretch that held began at the first pass


def test_a_throttled_generate_never_starts_or_confirms_a_hold() -> None:
    """Health and ready alone are not recovery (an exhausted quota leaves both 200): a probe
    whose generate round trip was not made neither starts a hold nor completes one."""
    never = verify([THROTTLED])
    assert not never.held and never.ever_seen_s is None
    unconfirmed = verify([FULL, THROTTLED])
    assert unconfirmed.held and "at the end of the hold" in unconfirmed.unconfirmed


def test_a_failing_probe_inside_the_hold_breaks_it_and_says_when() -> None:
    v = verify([FULL, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN])
    assert not v.held and v.ever_seen_s is not None and v.lost.startswith("after ")


def test_recovery_never_confirmable_within_the_limit_is_named_not_failed() -> None:
    v = verify([THROTTLED])
    assert not v.held and v.ever_seen_s is None
    assert "rate limit" in v.unconfirmed


# -- the verdict rule ----------------------------------------------------------------------


def test_a_hold_the_limit_kept_from_confirming_is_recovered_and_names_it_in_unchecked() -> None:
    words = "the generate round trip at the end of the hold: the API's rate limit"
    decision = decide(obs(verify=replace(HELD, unconfirmed=words)))
    assert decision.verdict == Verdict.RECOVERED
    assert words in decision.unchecked


def test_recovery_the_limit_kept_from_being_seen_is_never_not_recovered() -> None:
    unconfirmable = Verification(
        held=False, observed=THROTTLED.observed, fault_checked=True,
        unconfirmed="the generate round trip at recovery: the API's rate limit (10/min)",
    )  # fmt: skip
    decision = decide(obs(verify=unconfirmable, ledger_checked=False))
    assert decision.verdict != Verdict.NOT_RECOVERED
    assert decision.verdict == Verdict.ABORTED and "rate limit" in decision.reason
    assert any("rate limit" in u for u in decision.unchecked)
    # The rule decides it: without the limit's note, the same window is a failure.
    assert decide(obs(verify=replace(unconfirmable, unconfirmed=""))).verdict == (
        Verdict.NOT_RECOVERED
    )


def test_ttr_precision_is_the_gap_to_the_last_probe_that_could_have_seen_recovery() -> None:
    """Probes whose generate round trip the limit held back could not have seen recovery:
    TTR's precision is measured from the last probe that could, and did not."""
    clock = Clock()
    window = VerifyWindow(
        NothingRestarts(), NoCheck(),  # type: ignore[arg-type]
        ScriptedProber([DOWN, DOWN, THROTTLED, THROTTLED, FULL, FULL, FULL], clock), clock,
        lambda kind, detail: None, hold_s=0.2, window_s=5.0, poll_interval=0.0,
        sleep=lambda s: None,
    )  # fmt: skip
    v = window.run(t0=clock.t, phase="verify")
    assert v.held and window.resolution_s == 1.5  # three probes of half a second each
