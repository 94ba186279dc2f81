"""Docker's ways of printing times and sizes, so greps written for real output still match."""

from __future__ import annotations

import hashlib
import time

from harness.backends.base import ContainerState, Status


def ago(seconds: float) -> str:
    """`docker ps` style: "Less than a second", "3 seconds", "2 minutes", "About an hour"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return "1 second" if s == 1 else f"{s} seconds"
    m = s // 60
    if m < 60:
        return "About a minute" if m == 1 else f"{m} minutes"
    h = m // 60
    return "About an hour" if h == 1 else f"{h} hours"


def size(n: float) -> str:
    """`docker stats` style binary units: 45.2MiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.4g}{unit}"
        n /= 1024
    return f"{n:.4g}GiB"


def table(rows: list[list[str]]) -> str:
    """Columns separated by at least three spaces, as the docker CLI aligns them."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=False)] + [r[-1]]
        out.append("   ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def container_id(state: ContainerState) -> str:
    """The engine's ID where there is an engine; else a stable 64-hex one per container."""
    if state.engine_id:
        return state.engine_id
    return hashlib.sha256(f"{state.name}{state.created_at}".encode()).hexdigest()


def status_text(state: ContainerState, now: float | None = None) -> str:
    now = now or time.time()
    if state.status == Status.RUNNING:
        return f"Up {ago(now - (state.started_at or now))}"
    if state.status == Status.RESTARTING:
        return f"Restarting ({state.exit_code}) {ago(now - (state.finished_at or now))} ago"
    if state.status == Status.EXITED:
        return f"Exited ({state.exit_code}) {ago(now - (state.finished_at or now))} ago"
    return "Created"
