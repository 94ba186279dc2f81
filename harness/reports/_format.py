"""Small formatting helpers shared by the renderers: escaping, durations, colours.

Every renderer escapes at the point where text meets markup, with these helpers, so no
string from a result (a command, its output, a reason) reaches HTML, SVG or a Markdown
table cell unescaped.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from harness.reports._humanize import map_addresses as map_addresses  # re-exported
from harness.reports._humanize import plain
from harness.result import GamedayResult, StepRun, StepStatus, Verdict

# One palette for every view, so a colour means the same thing in the HTML report, the
# timeline, the regression report and the history picture.
VERDICT_COLOURS: dict[str, str] = {
    Verdict.RECOVERED.value: "#2e7d32",
    Verdict.RECOVERED_AFTER_LIFT.value: "#00838f",
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
# A step that fails on the healthy stack: neither a detection nor a fault of this incident.
BASELINE_FAILING = "failing at baseline"
BASELINE_FAILING_COLOUR = "#a7a7a7"  # grey: it shows nothing about the fault

# What a verdict means, where its name alone would mislead a reader.
VERDICT_MEANINGS: dict[str, str] = {
    Verdict.RECOVERED_AFTER_LIFT.value: (
        "self-healed once the fault was lifted; the runbook's steps did not restore service"
    ),
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


def command_text(command: str) -> str:
    """A runbook command on one line: shell line continuations (`\\` + newline) joined,
    separate lines joined with `; ` as the shell would run them."""
    joined = re.sub(r"[ \t]*\\[ \t]*\r?\n[ \t]*", " ", command.strip())
    return "; ".join(ln.strip() for ln in joined.splitlines() if ln.strip())


# curl's progress meter (stderr, when its output is not a terminal): two header lines, then
# rows of twelve columns rewritten in place with carriage returns. Noise in an excerpt.
_METER_HEADER = re.compile(
    r"^[ \t]*% Total[ \t]+% Received[ \t]+% Xferd.*$|^[ \t]+Dload[ \t]+Upload[ \t]+Total.*$",
    re.MULTILINE,
)
_SIZE = r"\d+(?:\.\d+)?[kMGTPE]?"
_CLOCK = r"(?:--:--:--|\d+:\d\d:\d\d|\d+d \d\dh|\d+h \d\dm)"
_METER_ROW = re.compile(
    rf"[ \t]*\d{{1,3}}[ \t]+{_SIZE}[ \t]+\d{{1,3}}[ \t]+{_SIZE}[ \t]+\d{{1,3}}[ \t]+{_SIZE}"
    rf"[ \t]+{_SIZE}[ \t]+{_SIZE}[ \t]+{_CLOCK}[ \t]+{_CLOCK}[ \t]+{_CLOCK}[ \t]+{_SIZE}"
)
_METER_BAR = re.compile(r"#+[ \t]*\d{1,3}\.\d%[ \t]*")  # curl -#


def strip_progress_meter(text: str) -> str:
    """Output without curl's progress meter, for display only (the record keeps it all).
    A response body that curl wrote between two meter updates stays."""
    if "% Total" not in text and "%" not in text:
        return text
    kept = []
    for line in text.split("\n"):
        cleaned = _METER_BAR.sub("", _METER_ROW.sub("", _METER_HEADER.sub("", line)))
        if cleaned == line:
            kept.append(line)
        elif cleaned.replace("\r", "").strip():
            kept.append("".join(p for p in cleaned.split("\r") if p.strip()))
    return "\n".join(kept)


def shown(result: GamedayResult, text: str) -> str:
    """Text from the record as a reader should see it: the stack's names, not loopback ports
    (`GamedayResult.address_map`, recorded by the runner from the stack's endpoints), and
    OS errors without Python's reprs (`harness.reports._humanize`)."""
    return plain(result, text)


def shown_output(result: GamedayResult, text: str) -> str:
    """A step's output for display: production names, curl's progress meter left out."""
    return shown(result, strip_progress_meter(text))


def baseline_failing_lines(result: GamedayResult) -> set[int]:
    """Runbook lines of the steps that failed on every healthy run ("line N: command")."""
    lines = set()
    for entry in result.baseline_failing_steps:
        m = re.match(r"\s*line (\d+)", entry)
        if m:
            lines.add(int(m.group(1)))
    return lines


def is_baseline_failing(result: GamedayResult, step: StepRun) -> bool:
    return step.line in baseline_failing_lines(result)


def incident_end(result: GamedayResult) -> float | None:
    """Where the incident's record ends on the gameday clock: recovery when it came, else
    the last thing recorded after t0 (a detection window's last poll, a resolution step,
    the verdict), else the gameday's own end. None when no fault was injected."""
    if result.t0 is None:
        return None
    if result.ttr_s is not None:
        return result.t0 + result.ttr_s
    ends = [e.t for e in result.events if e.t >= result.t0]
    ends += [s.started + s.duration for s in result.steps if s.phase != "steady-state"]
    if result.recovery_confirmed_s is not None:
        ends.append(result.t0 + result.recovery_confirmed_s)
    if result.resolution_finding is not None and result.resolution_finding.ttr_s is not None:
        ends.append(result.t0 + result.resolution_finding.ttr_s)
    end = max(ends, default=result.t0)
    if end <= result.t0 and result.duration_s > result.t0:
        end = result.duration_s
    return end
