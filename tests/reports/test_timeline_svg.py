"""The SVG timeline: valid, self-contained, escaped, and legible at 0.5 s and at 300 s."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from harness.reports._format import BASELINE_FAILING_COLOUR, STATUS_COLOURS, VERDICT_COLOURS
from harness.reports.timeline_svg import LABEL_W, MARKER_COLOURS, PLOT_W, timeline_svg
from harness.result import GamedayResult, StepStatus, Verdict

from .factories import (
    REDIS_CURL,
    after_lift,
    not_recovered,
    recovered,
    step,
    undetected_with_finding,
)

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def titled(root: ET.Element, tag: str, prefix: str) -> list[ET.Element]:
    out = []
    for el in root.iter(f"{NS}{tag}"):
        title = el.find(f"{NS}title")
        if title is not None and (title.text or "").startswith(prefix):
            out.append(el)
    return out


def tick_labels(root: ET.Element) -> list[str]:
    return [
        t.text or ""
        for t in root.iter(f"{NS}text")
        if t.get("text-anchor") == "middle" and re.fullmatch(r"t0|[+−][\d.]+ (s|min)", t.text or "")
    ]


def test_the_svg_is_valid_and_self_contained():
    svg = timeline_svg(recovered())
    root = parse(svg)
    assert root.find(f"{NS}title") is not None
    assert not list(root.iter(f"{NS}script"))
    assert not list(root.iter(f"{NS}image"))
    for el in root.iter():
        for name, value in el.attrib.items():
            assert not name.endswith("href"), (name, value)
            assert "http" not in value or name == "xmlns", (name, value)
            if name.startswith("on"):
                pytest.fail(f"event handler attribute {name}")


def test_each_step_after_t0_is_a_bar_coloured_by_its_status():
    root = parse(timeline_svg(recovered()))
    bars = titled(root, "rect", "line ")
    assert [b.find(f"{NS}title").text.split(" ")[1] for b in bars] == ["60", "69", "63"]
    colours = [b.get("fill") for b in bars]
    assert colours == [STATUS_COLOURS["ok"], STATUS_COLOURS["failed"], STATUS_COLOURS["ok"]]
    assert "detected the fault" in bars[1].find(f"{NS}title").text


def test_markers_for_injection_detection_and_recovery_are_labelled():
    text = " ".join(t.text or "" for t in parse(timeline_svg(recovered())).iter(f"{NS}text"))
    assert "fault injected (t0)" in text
    assert "detected +0.08 s" in text
    assert "recovered +0.57 s" in text
    assert "SEV-1 budget 5 min 00 s" in text
    assert "TTR 0.57 s = 0.2% of the budget" in text


def test_the_load_error_rate_is_drawn_per_second():
    result = recovered(ttr=4.0)  # t0 1.35 s: the plot shows the gameday clock from ~1 s to ~5.5 s
    result.impact.buckets = [
        (1.0, 20, 0),
        (2.0, 20, 20),
        (3.0, 20, 20),
        (4.0, 20, 20),
        (5.0, 20, 0),
    ]
    root = parse(timeline_svg(result))
    buckets = titled(root, "rect", "")
    failing = [b for b in buckets if "failed (50%)" in (b.find(f"{NS}title").text or "")]
    healthy = [b for b in buckets if "failed (0%)" in (b.find(f"{NS}title").text or "")]
    assert failing and healthy
    assert float(failing[0].get("height")) > 10 * float(healthy[0].get("height"))


@pytest.mark.parametrize("ttr", [0.5, 300.0])
def test_the_picture_is_legible_for_short_and_long_recoveries(ttr):
    result = recovered(ttr=ttr, ttd=0.08 if ttr < 1 else 12.0)
    root = parse(timeline_svg(result))
    # Recovery lands at the right of the plot, not squashed into a corner.
    recovered_line = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke") == "#2e7d32"][0]
    x = float(recovered_line.get("x1"))
    assert LABEL_W + 0.8 * PLOT_W < x <= LABEL_W + PLOT_W
    # The resolution step occupies a visible share of the incident.
    resolve = titled(root, "rect", "line 63")[0]
    assert float(resolve.get("width")) > 0.3 * PLOT_W
    # Between 4 and 12 distinct tick labels, t0 among them.
    ticks = tick_labels(root)
    assert 4 <= len(ticks) <= 12, ticks
    assert len(set(ticks)) == len(ticks)
    assert "t0" in ticks
    # The budget bar has its own scale: TTR stays visible next to a 5 min budget.
    budget_fill = titled(root, "rect", "TTR ")[0]
    assert float(budget_fill.get("width")) >= 2.0


def test_a_recovery_over_budget_is_drawn_past_the_budget():
    result = replace(recovered(ttr=420.0, ttd=10.0), verdict=Verdict.SLOW)
    root = parse(timeline_svg(result))
    fill = titled(root, "rect", "TTR ")[0]
    assert "over by 2 min 00 s" in fill.find(f"{NS}title").text
    budget = titled(root, "rect", "response-time budget")[0]
    assert float(fill.get("width")) > float(budget.get("width"))


def test_a_result_that_never_recovered_or_never_started_still_renders():
    parse(timeline_svg(not_recovered()))
    aborted = GamedayResult(
        scenario="x",
        title="t",
        section="s",
        runbook="r.md",
        backend="local",
        declared_severity=2,
        budget_s=900.0,
        fault="f",
        fault_description="d",
        verdict=Verdict.ABORTED,
        reason="steady state never held",
    )
    text = " ".join(t.text or "" for t in parse(timeline_svg(aborted)).iter(f"{NS}text"))
    assert "no runbook step ran after the fault was injected" in text
    assert "no fault was injected" in text


def test_every_string_from_the_record_is_escaped():
    result = recovered()
    result.steps.append(
        step(
            "resolve",
            99,
            'echo "<script>alert(1)</script>" & rm -rf /',
            StepStatus.MANUAL,
            exit_code=None,
            started=1.5,
            manual_reason="a <b>person</b> & a pager",
        )
    )
    result.scenario = "<svg onload=alert(1)>"
    svg = timeline_svg(result)
    parse(svg)
    assert "<script>" not in svg and "<b>" not in svg and "<svg onload" not in svg
    assert "&lt;script&gt;" in svg


def test_two_timelines_in_one_page_do_not_share_element_ids():
    a, b = timeline_svg(recovered("a")), timeline_svg(recovered("b"))
    ids_a = set(re.findall(r'id="([^"]+)"', a))
    ids_b = set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b


def texts(root: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in root.iter(f"{NS}text"))


def marker_x(root: ET.Element, colour: str) -> float:
    [line] = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke") == colour]
    return float(line.get("x1"))


def tick_x(root: ET.Element, label: str) -> float:
    [tick] = [t for t in root.iter(f"{NS}text") if t.text == label and t.get("text-anchor")]
    return float(tick.get("x"))


def test_the_fault_line_is_drawn_at_the_records_t0_not_at_the_inject_events_log_time():
    result = undetected_with_finding()
    inject = next(e for e in result.events if e.kind == "inject")
    assert inject.t - result.t0 == pytest.approx(0.33)  # logged late, as on a loaded machine
    root = parse(timeline_svg(result))
    assert marker_x(root, MARKER_COLOURS["inject"]) == pytest.approx(tick_x(root, "t0"), abs=0.1)


def test_an_undetected_gameday_is_drawn_for_as_long_as_it_really_ran():
    root = parse(timeline_svg(undetected_with_finding()))
    text = texts(root)
    # The detection window (10 s) and the resolution after it, not the 0.35 s of events
    # before the first poll.
    assert "not recovered: undetected; incident recorded for 25.2 s after t0" in text
    assert "resolution: not-recovered" in text
    assert "undetected by +10.0 s: declared" in text
    assert "llm-quota: undetected (resolution: not-recovered)" in text


def test_recovered_after_lift_is_drawn_in_its_own_colour_with_the_lift_and_the_hold():
    root = parse(timeline_svg(after_lift()))
    text = texts(root)
    assert "cause lifted" in text
    assert "back after the lift +7.35 s" in text
    assert "confirmed +10.3 s (held 3.00 s)" in text
    fill = titled(root, "rect", "TTR ")[0]
    assert fill.get("fill") == VERDICT_COLOURS["recovered-after-lift"]
    assert "only once the fault was lifted: not the runbook's recovery" in (
        fill.find(f"{NS}title").text
    )
    lift = marker_x(root, MARKER_COLOURS["lift"])
    assert lift < marker_x(root, VERDICT_COLOURS["recovered-after-lift"])
    assert marker_x(root, VERDICT_COLOURS["recovered-after-lift"]) < marker_x(
        root, MARKER_COLOURS["confirmed"]
    )


def test_a_detection_step_failing_at_baseline_is_never_drawn_as_a_plain_failure():
    result = undetected_with_finding()
    result.steps.append(
        step(
            "detect",
            88,
            REDIS_CURL,
            StepStatus.FAILED,
            exit_code=52,
            started=result.t0 + 9.9,
            baseline_exit=52,
        )
    )
    root = parse(timeline_svg(result))
    [bar] = titled(root, "rect", "line 88")
    assert bar.get("fill") == BASELINE_FAILING_COLOUR
    fill = bar.get("fill")
    assert fill[1:3] == fill[3:5] == fill[5:7]  # grey, never a failure's red
    assert "failing at baseline" in bar.find(f"{NS}title").text


def test_a_multi_line_command_is_labelled_on_one_line():
    root = parse(timeline_svg(undetected_with_finding()))
    labels = [t for t in root.iter(f"{NS}text") if (t.find(f"{NS}title") is not None)]
    full = [t.find(f"{NS}title").text for t in labels]
    usage = 'curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/usage'
    assert any(usage in t for t in full), full
    assert not any("\\" in (t or "") for t in full)


def _label_boxes(root: ET.Element) -> list[tuple[float, float, float]]:
    """(y, left, right) of each marker label (font-size 11, above the plot), estimated."""
    out = []
    for t in root.iter(f"{NS}text"):
        if t.get("font-size") != "11" or t.find(f"{NS}title") is not None or not t.get("fill"):
            continue
        x, w = float(t.get("x")), 6.2 * len(t.text or "")
        left = x - w if t.get("text-anchor") == "end" else x
        out.append((float(t.get("y")), left, left + w))
    return out


def test_marker_labels_never_overlap_however_close_the_events():
    result = after_lift()  # lift, recovery and confirmation close together
    result.recovery_confirmed_s = result.ttr_s + 0.01
    boxes = _label_boxes(parse(timeline_svg(result)))
    assert len(boxes) >= 4
    for i, (y1, a1, b1) in enumerate(boxes):
        for y2, a2, b2 in boxes[i + 1 :]:
            assert y1 != y2 or b1 <= a2 or b2 <= a1, (boxes, i)


def test_a_polled_step_is_a_lane_with_a_tick_per_recorded_run():
    result = undetected_with_finding()
    polled = next(s for s in result.steps if s.phase == "detect")
    t0 = result.t0
    polled.runs = [(t0 + 0.1 * i, 0.02, 0) for i in range(1, 40)]  # type: ignore[attr-defined]
    root = parse(timeline_svg(result))
    ticks = [ln for ln in root.iter(f"{NS}line") if ln.get("class") == "tick"]
    assert len(ticks) == 39
    band = titled(root, "rect", "polled from")
    assert band and "39 recorded runs" in band[0].find(f"{NS}title").text


def test_without_recorded_runs_the_lane_says_only_the_last_run_is_kept():
    root = parse(timeline_svg(undetected_with_finding()))
    bands = titled(root, "rect", "polled from")
    assert bands and all("keeps only the last run" in b.find(f"{NS}title").text for b in bands)
    assert not [ln for ln in root.iter(f"{NS}line") if ln.get("class") == "tick"]


def test_the_step_that_destroyed_data_is_outlined_and_named():
    from .factories import data_loss

    root = parse(timeline_svg(data_loss()))
    [bar] = titled(root, "rect", "line 191")
    assert bar.get("stroke") == "#000" and float(bar.get("stroke-width")) > 2
    assert "destroyed acknowledged data" in bar.find(f"{NS}title").text
    texts = [t.text or "" for t in root.iter(f"{NS}text")]
    assert any(t.startswith("⚠ destroyed acknowledged data") for t in texts)
    assert "data destroyed (line 191)" in texts
