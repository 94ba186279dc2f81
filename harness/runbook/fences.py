"""Splitting a runbook's shell fence into steps: one command (with its continuation lines,
quoted newlines and here-documents) or one comment block (a manual step) each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import RunbookError

_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass
class _LineScan:
    quote: str | None  # open quote at the end of the line
    backslash: bool  # line ends with a continuation backslash
    heredocs: list[tuple[str, bool]]  # (terminator, strip leading tabs)


def _scan_line(line: str, quote: str | None) -> _LineScan:
    heredocs: list[tuple[str, bool]] = []
    backslash = False
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif quote in ('"', "`"):
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        else:
            if c == "\\":
                if i == n - 1:
                    backslash = True
                i += 1
            elif c in "'\"`":
                quote = c
            elif c == "#" and (i == 0 or line[i - 1].isspace()):
                break
            elif line.startswith("<<", i) and not line.startswith("<<<", i):
                m = _HEREDOC.match(line, i)
                if m:
                    heredocs.append((m.group(3), m.group(1) == "-"))
                    i = m.end()
                    continue
        i += 1
    if quote in ('"', "`") and line.endswith("\\") and not line.endswith("\\\\"):
        backslash = True
    return _LineScan(quote, backslash, heredocs)


def _comment_text(stripped: str) -> str:
    text = stripped[1:]
    return text[1:] if text.startswith(" ") else text.lstrip("#").strip()


def split_shell_block(content: str, first_line: int, path: str) -> list[tuple[str, str, int]]:
    """Split the content of a shell fence into (command, comment, line) triples.

    `first_line` is the 1-based source line of the fence's first content line.  A
    manual step has command "".
    """
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    steps: list[tuple[str, str, int]] = []
    pending: list[tuple[str, int]] = []  # comment block not yet attached to a command
    current = ""

    def flush_manual() -> None:
        nonlocal current
        if pending:
            current = "\n".join(t for t, _ in pending)
            steps.append(("", current, pending[0][1]))
            pending.clear()

    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        lineno = first_line + i
        if not stripped:
            flush_manual()
            i += 1
            continue
        if stripped.startswith("#!") and i == 0:
            i += 1
            continue
        if stripped.startswith("#"):
            pending.append((_comment_text(stripped).rstrip(), lineno))
            i += 1
            continue
        if pending:
            current = "\n".join(t for t, _ in pending)
            pending.clear()
        start, i = i, _command_end(lines, i, first_line, path)
        steps.append(("\n".join(lines[start:i]).strip(), current, first_line + start))
    flush_manual()
    return steps


def _command_end(lines: list[str], start: int, first_line: int, path: str) -> int:
    """The index after the last line of the command starting at `start`: continuation
    backslashes, open quotes and here-document bodies keep it going."""
    i, quote = start, None
    heredocs: list[tuple[str, bool]] = []
    while True:
        scan = _scan_line(lines[i], quote)
        quote = scan.quote
        heredocs.extend(scan.heredocs)
        i += 1
        if quote is None and not scan.backslash and heredocs:
            while heredocs and i < len(lines):  # the here-document bodies, in order
                tag, strip_tabs = heredocs[0]
                body = lines[i].lstrip("\t") if strip_tabs else lines[i]
                i += 1
                if body.rstrip() == tag:
                    heredocs.pop(0)
            if heredocs:
                raise RunbookError(
                    path, first_line + start,
                    f"here-document {heredocs[0][0]!r} is not terminated before the "
                    "end of the code block",
                )  # fmt: skip
            return i
        if quote is None and not scan.backslash:
            return i
        if i >= len(lines):
            what = (
                f"has an unbalanced {quote} quote"
                if quote
                else "ends in a line continuation (trailing \\)"
            )
            raise RunbookError(
                path, first_line + start,
                f"shell command {what} at the end of its code block",
            )  # fmt: skip
