"""History: every results.json under a directory, verdict and TTR per scenario across runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.errors import BadInput
from harness.reports.history import load_history, to_markdown, write_history
from harness.reports.json_results import RunInfo, write_run

from .factories import not_recovered, recovered


def nightly(root, day, *results):
    started = f"2026-11-{day:02d}T02:00:00+00:00"
    results = [r for r in results]
    for r in results:
        r.started_at = started
    return write_run(
        root / f"2026-11-{day:02d}" / "results.json",
        results,
        RunInfo.now(results, started_at=started),
    )


@pytest.fixture
def three_nights(tmp_path):
    # Written out of order: the history orders runs by their start time.
    nightly(tmp_path, 26, recovered("service-down", ttr=0.7), recovered("service-crash", ttr=2.0))
    nightly(tmp_path, 24, recovered("service-down", ttr=0.5))
    nightly(tmp_path, 25, not_recovered("service-down"), recovered("service-crash", ttr=1.5))
    return tmp_path


def test_runs_are_read_oldest_first(three_nights):
    h = load_history(three_nights)
    assert [h.run_label(r) for r in h.runs] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert h.keys == [("service-down", "incident-response"), ("service-crash", "incident-response")]


def test_the_trend_table_has_a_row_per_scenario_and_a_column_per_run(three_nights):
    md = to_markdown(load_history(three_nights))
    table = md.split("## incident-response", 1)[1].split("## Per scenario", 1)[0]
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    assert lines[0] == "| scenario | 2026-11-24 | 2026-11-25 | 2026-11-26 |"
    # Scenarios in alphabetical order, so two runbooks' tables read alike.
    assert lines[2] == "| service-crash | – | ✓ 1.50 s | ✓ 2.00 s |"
    assert lines[3] == "| service-down | ✓ 0.50 s | ✗ not-recovered | ✓ 0.70 s |"
    summary = [ln for ln in md.splitlines() if ln.startswith("| service-down | incident")]
    assert summary == [
        "| service-down | incident-response | 3 | 2 | 0.60 s | 0.70 s | recovered | "
        "not-recovered → recovered at 2026-11-26 |"
    ]


def test_history_md_and_svg_are_written_next_to_the_runs(three_nights):
    _, md, svg = write_history(three_nights)
    assert md == three_nights / "history.md" and svg == three_nights / "history.svg"
    root = ET.fromstring(svg.read_text())
    ns = "{http://www.w3.org/2000/svg}"
    points = [c for c in root.iter(f"{ns}circle") if c.find(f"{ns}title") is not None]
    crosses = [p for p in root.iter(f"{ns}path") if p.find(f"{ns}title") is not None]
    assert len(points) == 4  # recovered runs: TTR points
    assert len(crosses) == 1  # the not-recovered night
    assert "not-recovered" in crosses[0].find(f"{ns}title").text
    assert "budget 5 min 00 s" in svg.read_text()


def test_a_directory_without_results_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no results.json under this directory"):
        load_history(tmp_path)
    with pytest.raises(BadInput, match="no such directory"):
        load_history(tmp_path / "nope")


def test_one_unreadable_run_is_bad_input_naming_it(three_nights):
    bad = three_nights / "2026-11-27" / "results.json"
    bad.parent.mkdir()
    bad.write_text('{"schema_version": 99}')
    with pytest.raises(BadInput, match="2026-11-27/results.json: results schema_version 99"):
        load_history(three_nights)


def test_runbooks_get_a_table_each_and_only_the_latest_runs_are_columns(tmp_path):
    from harness.reports.history import MAX_RUN_COLUMNS

    for day in range(1, MAX_RUN_COLUMNS + 3):
        fixed = recovered("service-down", runbook="runbooks/incident-response.fixed.md")
        nightly(tmp_path, day, recovered("service-down"), fixed)
    md = to_markdown(load_history(tmp_path))
    assert "## incident-response\n" in md and "## incident-response.fixed\n" in md
    header = next(ln for ln in md.splitlines() if ln.startswith("| scenario | 2026"))
    assert header.count("|") == MAX_RUN_COLUMNS + 2
    assert "2026-11-01" not in header and "2026-11-12" in header
    assert f"The latest {MAX_RUN_COLUMNS} runs are shown" in md


def test_the_svg_has_a_panel_per_scenario_with_a_line_per_runbook(tmp_path):
    for day in (1, 2):
        fixed = recovered("service-down", ttr=0.4, runbook="runbooks/incident-response.fixed.md")
        nightly(tmp_path, day, recovered("service-down", ttr=0.5 + day), fixed)
    _, _, svg = write_history(tmp_path)
    root = ET.fromstring(svg.read_text())
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}text") if t.get("font-weight") == "600"]
    assert titles[1:] == ["service-down"]  # one panel (after the heading) for both runbooks
    assert len(list(root.iter(f"{ns}polyline"))) == 2  # a line per runbook
    labels = {t.text for t in root.iter(f"{ns}text")}
    assert {"incident-response", "incident-response.fixed"} <= labels
