"""One deployment file's text as a person reads it: a Markdown fence around the whole file
is taken off (and remembered, since the tools that load the file fail on it), line numbers
stay those of the file on disk.

The TestGen repository's HEAD wraps `docker-compose.yml`, `Dockerfile` and `.env.example`
in three-backtick fences. Compose, `docker build` and a shell fail on line 1; a reviewer
would drop the fence and read on, so the checks read the inside and report the fence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 1 << 20  # deployment files are a few kB; refuse anything that is not one


@dataclass(frozen=True)
class Fence:
    """A Markdown fence around a file: where it opens and closes (1-based lines)."""

    opening_line: int
    opening: str  # "```yaml"
    closing_line: int | None  # None when the fence is never closed


@dataclass(frozen=True)
class SourceFile:
    """A file's text with any wrapping fence blanked out, so line N is still line N."""

    path: Path
    shown: str  # the path as findings name it (relative to the deployment dir)
    raw: str
    text: str  # `raw` with the fence lines replaced by empty lines
    fence: Fence | None

    def line(self, number: int) -> str:
        lines = self.raw.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


def _is_fence(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("```") or stripped.startswith("~~~")


def unfence(raw: str) -> tuple[str, Fence | None]:
    """The text without a fence that wraps it (first non-blank line a fence), and the fence."""
    lines = raw.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not _is_fence(lines[first]):
        return raw, None
    closing = next((i for i in range(len(lines) - 1, first, -1) if lines[i].strip()), None)
    closes = closing is not None and lines[closing].strip() in ("```", "~~~")
    closing_line = closing + 1 if closes and closing is not None else None
    fence = Fence(first + 1, lines[first].strip(), closing_line)
    lines[first] = ""
    if closing_line is not None:
        lines[closing_line - 1] = ""
    text = "\n".join(lines) + ("\n" if raw.endswith("\n") else "")
    return text, fence


def read_source(path: Path, shown: str | None = None) -> SourceFile:
    """Read `path`; OSError, UnicodeDecodeError and ValueError (too large) are the caller's
    to report. `shown` is how findings name the file (default: the path as given)."""
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise ValueError(f"{len(data)} bytes, more than a deployment file holds ({MAX_BYTES})")
    raw = data.decode("utf-8")
    text, fence = unfence(raw)
    return SourceFile(path, shown or str(path), raw, text, fence)
