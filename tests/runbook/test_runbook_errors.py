"""Malformed runbooks: each raises RunbookError naming the file and the right line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import BadInput, RunbookError
from harness.runbook.parse import main, parse_runbook, parse_runbook_text

MALFORMED = Path(__file__).resolve().parent / "malformed"

# fixture -> (line, words the message must contain)
CASES: dict[str, tuple[int | None, str]] = {
    "empty.md": (None, "empty runbook"),
    "blank_only.md": (None, "empty runbook"),
    "binary_nul.md": (4, "NUL byte"),
    "not_utf8.md": (6, "not UTF-8"),
    "no_severity_section.md": (None, "no 'Incident Severity Levels' section"),
    "no_sev_blocks.md": (3, "no '### SEV-N: Name' blocks"),
    "sev_missing_response_time.md": (10, "SEV-2 has no '**Response Time**'"),
    "sev_unparseable_response_time.md": (12, "'As soon as possible'"),
    "duplicate_sev.md": (10, "duplicate severity SEV-1 (first declared at line 5)"),
    "sev_zero.md": (10, "unknown severity level SEV-0"),
    "sev_seven_in_section.md": (14, "unknown severity level SEV-7"),
    "undeclared_sev.md": (19, "names SEV-3, which is not declared"),
    "unterminated_fence.md": (13, "unterminated code fence"),
    "resolution_without_block.md": (21, "'**Resolution Steps**' is not followed by"),
    "unbalanced_quotes.md": (20, 'unbalanced " quote'),
    "trailing_backslash.md": (14, "line continuation"),
}


def test_every_fixture_has_a_case() -> None:
    assert sorted(p.name for p in MALFORMED.iterdir()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed(name: str) -> None:
    line, words = CASES[name]
    path = MALFORMED / name
    with pytest.raises(RunbookError) as info:
        parse_runbook(path)
    err = info.value
    assert isinstance(err, BadInput) and err.exit_status == 2
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert words in err.message
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(err).startswith(where)


def test_missing_file() -> None:
    with pytest.raises(RunbookError, match="cannot read runbook"):
        parse_runbook(MALFORMED / "does-not-exist.md")


def test_text_entry_point_names_the_given_path() -> None:
    with pytest.raises(RunbookError) as info:
        parse_runbook_text("", "ops/runbook.md")
    assert str(info.value) == "ops/runbook.md: empty runbook"


def test_cli_exit_2_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(MALFORMED / "duplicate_sev.md")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "duplicate_sev.md:10: duplicate severity SEV-1" in captured.err


def test_module_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.runbook.parse", str(MALFORMED / "sev_zero.md")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "unknown severity level SEV-0 in 'SEV-0: Apocalypse' (levels are SEV-1..SEV-4)"
    )
