"""Small formatting helpers shared by the renderers: escaping, durations, colours.

Every renderer escapes at the point where text meets markup, with these helpers, so no
string from a result (a command, its output, a reason) reaches HTML, SVG or a Markdown
table cell unescaped.
"""

from __future__ import annotations

import html
from pathlib import Path

from harness.result import StepStatus, Verdict

# One palette for every view, so a colour means the same thing in the HTML report, the
# timeline, the regression report and the history picture.
VERDICT_COLOURS: dict[str, str] = {
    Verdict.RECOVERED.value: "#2e7d32",
    Verdict.SLOW.value: "#f9a825",
    Verdict.NOT_RECOVERED.value: "#c62828",
    Verdict.UNDETECTED.value: "#6a1b9a",
    Verdict.ABORTED.value: "#757575",
    Verdict.DATA_LOSS.value: "#000000",
}
STATUS_COLOURS: dict[str, str] = {
    StepStatus.OK.value: "#2e7d32",
    StepStatus.FAILED.value: "#c62828",
    StepStatus.TIMED_OUT.value: "#ef6c00",
    StepStatus.MANUAL.value: "#9e9e9e",
    StepStatus.SKIPPED.value: "#cfcfcf",
}


def esc(value: object) -> str:
    """HTML/XML-escape any value (quotes included, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def seconds(value: float | None, none: str = "-") -> str:
    """A duration for people: 0.083 s, 4.2 s, 5 min 03 s, 2 h 05 min."""
    if value is None:
        return none
    v = float(value)
    if abs(v) < 10:
        return f"{v:.2f} s"
    if abs(v) < 100:
        return f"{v:.1f} s"
    if abs(v) < 3600:
        m, s = divmod(round(abs(v)), 60)
        return f"{'-' if v < 0 else ''}{m} min {s:02d} s"
    h, rest = divmod(round(abs(v)), 3600)
    return f"{'-' if v < 0 else ''}{h} h {rest // 60:02d} min"


def md_cell(value: object) -> str:
    """Text safe inside one Markdown table cell: one line, pipes escaped."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def md_code(value: object) -> str:
    """Inline Markdown code that survives backticks in the command itself."""
    text = " ".join(str(value).split())
    if not text:
        return ""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def excerpt(text: str, lines: int = 6, width: int = 160) -> str:
    """The last few lines of an output (the end is where the error is), each cut to width."""
    kept = [ln.split("\r")[-1] for ln in text.rstrip().splitlines()]
    kept = [ln for ln in kept if ln.strip()][-lines:]
    return "\n".join(ln if len(ln) <= width else ln[: width - 1] + "…" for ln in kept)


def runbook_stem(path: str) -> str:
    return Path(path).stem if path else "?"
