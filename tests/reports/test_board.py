"""The status board: live lines on a terminal, plain lines in a CI log, a final table."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest

from harness.reports.board import LINE_MAX, StatusBoard
from harness.result import Verdict

from .factories import data_loss, not_recovered, recovered, undetected_with_finding

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def visible(text: str) -> list[str]:
    return [ANSI.sub("", line) for line in text.splitlines()]


def long_reason(result):
    return replace(result, reason="port 8000 is still held; " * 60, scenario="s" * 80)


def test_plain_lines_without_a_terminal_one_per_gameday_and_no_cursor_movement(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    board = StatusBoard(out)
    board.started("service-down--incident-response", "incident-response.md  service-down")
    board.phase("service-down--incident-response", "inject")
    board.finished(recovered(), "recovered")
    board.finished(not_recovered(), "recovered")
    text = out.getvalue()
    assert "\x1b" not in text  # no colour and no cursor movement in a log
    lines = text.splitlines()
    assert len(lines) == 2  # no phase lines, no start lines: one line a finished gameday
    assert lines[0].startswith("✓ recovered") and "expected" not in lines[0]
    assert lines[1].startswith("✗ not-recovered") and "≠ expected recovered" in lines[1]


def test_a_terminal_gets_live_lines_redrawn_in_place(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = FakeTTY()
    board = StatusBoard(out)
    board.started("llm-quota--incident-response", "incident-response.md  llm-quota")
    board.phase("llm-quota--incident-response", "detect")
    text = out.getvalue()
    assert "incident-response.md  llm-quota: detect" in text
    assert "\x1b[1F\x1b[J" in text  # the live line was erased and drawn again, not appended
    board.finished(undetected_with_finding(), "undetected")
    board.close([undetected_with_finding()])
    shown = visible(out.getvalue())
    assert any(line.startswith("✗ undetected") for line in shown)
    assert "\x1b[35m" in out.getvalue()  # the verdict in its colour on a terminal


def test_no_color_is_respected_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = FakeTTY()
    board = StatusBoard(out)
    board.finished(not_recovered(), "not-recovered")
    board.close([not_recovered()])
    assert not re.search(r"\x1b\[[0-9;]*m", out.getvalue())


@pytest.mark.parametrize("tty", [False, True])
def test_no_line_over_120_characters_without_verbose(tty, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = FakeTTY() if tty else io.StringIO()
    board = StatusBoard(out)
    results = [long_reason(not_recovered()), long_reason(undetected_with_finding()), data_loss()]
    board.started("x", "incident-response.md  " + "s" * 200)
    for r in results:
        board.finished(r, "recovered")
    board.close(results)
    for line in visible(out.getvalue().replace("\x1b[1F", "\n")):
        assert len(line) <= LINE_MAX, line


def test_verbose_adds_the_reason_and_the_second_finding_wrapped():
    out = io.StringIO()
    board = StatusBoard(out, verbose=True)
    board.started("llm-quota--incident-response", "incident-response.md  llm-quota")
    board.phase("llm-quota--incident-response", "detect")
    board.finished(undetected_with_finding(), "undetected")
    text = out.getvalue()
    assert "llm-quota: detect" in text  # -v: phases too, as plain lines
    assert "resolution: not-recovered" in text
    assert "testgen still runs with PRIMARY_LLM_PROVIDER=openai" in text


def test_the_final_table_is_grouped_by_runbook_with_each_tonight_line():
    out = io.StringIO()
    shipped = [recovered(), not_recovered("high-error-rate"), data_loss()]
    fixed = [
        replace(r, runbook="runbooks/incident-response.fixed.md", verdict=Verdict.RECOVERED)
        for r in shipped
    ]
    StatusBoard(out).close(shipped + fixed)
    lines = out.getvalue().splitlines()
    heads = [i for i, line in enumerate(lines) if "incidents recovered by the runbook" in line]
    assert len(heads) == 2
    assert lines[heads[0]].startswith("incident-response: 1 of 3 incidents recovered")
    assert "2 defects (1 data loss)" in lines[heads[0]]
    assert lines[heads[1]].startswith("incident-response.fixed: 3 of 3 incidents recovered")
    block = lines[heads[0] + 2 : heads[1]]
    assert sum("high-error-rate" in line for line in block) == 1


def test_a_line_marks_a_verdict_other_than_the_expected_one():
    out = io.StringIO()
    board = StatusBoard(out)
    board.finished(data_loss(), "data-loss")
    board.finished(data_loss(), "recovered")
    board.finished(data_loss(), None)
    first, second, third = out.getvalue().splitlines()
    assert "expected" not in first
    assert second.endswith("≠ expected recovered")
    assert "expected" not in third and len(second) > len(third)


def test_the_executors_expected_text_with_a_pinned_second_finding():
    out = io.StringIO()
    board = StatusBoard(out)
    board.finished(undetected_with_finding(), "undetected (resolution not-recovered)")
    board.finished(undetected_with_finding(), "undetected (resolution recovered)")
    same, other = out.getvalue().splitlines()
    assert "expected" not in same
    assert other.endswith("≠ expected undetected→recovered")
