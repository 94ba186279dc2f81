"""Timing verdicts that do not depend on the neighbours: the rule that says when a verdict
was decided by a margin small against the run's own noise, and the merge of a confirmation
re-run (both measurements kept, the lone run's verdict)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.result import Finding, GamedayResult, Verdict
from harness.run.margin import measurement, merge_confirmation, needs_confirmation, untested


def result(**kw: object) -> GamedayResult:
    base = GamedayResult(
        scenario="service-down", title="", section="Service Down (SEV-1)", runbook="rb.md",
        backend="local", declared_severity=1, budget_s=1.0, fault="service-killed",
        fault_description="", verdict=Verdict.RECOVERED, ttd_s=0.1, ttr_s=0.6,
        ttd_resolution_s=0.1, ttr_resolution_s=0.1, detect_window_s=20.0, detect_opened_s=0.05,
        machine={"cores": 2, "loadavg_1m_start": 3.1, "stack_cpu_s": 4.2},
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


CASES = [
    # (rule, record, words of the reason; None: decided by a wide margin)
    ("recovered, TTR within 3x of a 1 s budget", result(ttr_s=0.6), "within 3× of the 1s budget"),
    ("slow, TTR within 3x of a 1 s budget", result(verdict=Verdict.SLOW, ttr_s=2.8),
     "slow could be recovered"),
    ("recovered far inside a 5 min budget", result(budget_s=300.0, ttr_s=0.6), None),
    ("slow far beyond the budget", result(verdict=Verdict.SLOW, ttr_s=3.5), None),
    ("recovered far inside the budget: 1/3 of it is the edge", result(ttr_s=0.3), None),
    ("not-recovered has no timing margin", result(verdict=Verdict.NOT_RECOVERED, ttr_s=None),
     None),
    ("the second finding's TTR near the budget",
     result(verdict=Verdict.UNDETECTED, ttd_s=None, ttr_s=None,
            resolution_finding=Finding(Verdict.RECOVERED, "", 0.9)),
     "the second finding's TTR 0.90s"),
    ("detection within one re-poll of the window's end",
     result(budget_s=300.0, ttd_s=19.98), "within one re-poll (0.10s) of the detection window"),
    ("detection well inside the window", result(budget_s=300.0, ttd_s=19.8), None),
    ("the fault's symptom stopped by itself before any detection",
     result(verdict=Verdict.ABORTED, ttd_s=None, ttr_s=None,
            reason="fault not in effect during the detection window: no OOM kill since"),
     "a run alone may keep it going"),
    ("a fault never observed is not a matter of load", result(
        verdict=Verdict.ABORTED, ttd_s=None, ttr_s=None, reason="fault not in effect: +2 ms"),
     None),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "record", "words"), CASES, ids=[c[0] for c in CASES])
def test_needs_confirmation(rule: str, record: GamedayResult, words: str | None) -> None:
    why = needs_confirmation(record)
    if words is None:
        assert why is None, f"{rule}: {why}"
    else:
        assert why is not None and words in why, f"{rule}: {why}"


def test_a_confirmed_result_keeps_both_measurements_and_the_lone_runs_verdict() -> None:
    concurrent = result(verdict=Verdict.SLOW, ttr_s=2.71, reason="recovered after 2.7s",
                        machine={"loadavg_1m_start": 7.9, "stack_cpu_s": 9.0})  # fmt: skip
    concurrent.margin = needs_confirmation(concurrent) or ""
    alone = result(ttr_s=0.69, machine={"loadavg_1m_start": 1.2, "stack_cpu_s": 3.3})
    merged = merge_confirmation(concurrent, alone)
    assert merged.verdict == Verdict.RECOVERED and merged.ttr_s == 0.69
    assert [m["run"] for m in merged.measurements] == ["concurrent", "alone"]
    assert [m["ttr_s"] for m in merged.measurements] == [2.71, 0.69]
    assert merged.measurements[0]["machine"]["loadavg_1m_start"] == 7.9
    assert merged.measurements[1]["ttr_resolution_s"] == 0.1
    assert "slow could be recovered" in merged.margin
    assert any("the concurrent run gave slow" in n for n in merged.notes)
    assert GamedayResult.from_dict(merged.to_dict()).measurements == merged.measurements


def test_a_confirmation_of_another_gameday_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be"):
        merge_confirmation(result(), result(scenario="redis-down"))


def test_a_measurement_names_its_run_and_its_precision() -> None:
    m = measurement(result(), "alone")
    assert (m["run"], m["ttd_s"], m["ttd_resolution_s"], m["ttr_s"], m["ttr_resolution_s"]) == (
        "alone", 0.1, 0.1, 0.6, 0.1
    )


def test_a_previous_version_record_still_reads() -> None:
    """Records written before these fields existed read with their defaults."""
    data = result().to_dict()
    for key in ("detect_window_s", "detect_opened_s", "verify_window_s", "probe_rate",
                "load_rate", "machine", "margin", "measurements"):  # fmt: skip
        data.pop(key)
    old = GamedayResult.from_dict(data)
    assert old.measurements == [] and old.margin == "" and needs_confirmation(old) is not None


def test_an_untested_gameday_is_attempted_again_and_the_second_run_says_how_it_ran() -> None:
    stopped = result(
        verdict=Verdict.ABORTED, ttd_s=None, ttr_s=None,
        reason="fault not in effect during the detection window: no OOM kill",
    )  # fmt: skip
    assert untested(stopped) and not untested(result(verdict=Verdict.ABORTED, reason="x"))
    again = result(verdict=Verdict.NOT_RECOVERED, ttr_s=None)
    merged = merge_confirmation(stopped, again, needs_confirmation(stopped) or "", "again")
    assert merged.verdict == Verdict.NOT_RECOVERED
    assert [m["run"] for m in merged.measurements] == ["concurrent", "again"]
    assert any("re-run again: not-recovered" in n for n in merged.notes), merged.notes
