"""End to end: `gameday run` against the local stack, its report opened in Chromium.

The one test here needs a live local stack (about 5 s) and headless Chromium; it is skipped,
with the reason, when Chromium is not installed. Set GAMEDAY_SCREENSHOT=/path.png to keep
the screenshot it takes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.live  # starts the stack's real processes

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


class _Dom(HTMLParser):
    """Elements of the rendered DOM (not text inside attributes, such as pytest-html's JSON)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.stack: list[str] = []
        self.text_in: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(
            1
            for t, a in self.elements
            if t == tag and (cls is None or cls in a.get("class", "").split())
        )


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


SHIPPED = str(Path(__file__).resolve().parents[2] / "runbooks" / "incident-response.md")


@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)"
)
def test_gameday_run_renders_a_report_with_summary_step_tables_and_timelines(tmp_path):
    out = tmp_path / "gameday-out"
    run = subprocess.run(
        ["gameday", "run", "--scenario", "service-down", "--out", str(out), "--runbook", SHIPPED],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # The status board's line for the gameday (stdout is not a terminal: plain lines).
    [line] = [ln for ln in run.stdout.splitlines() if "service-down" in ln and "TTR" in ln]
    assert line.startswith("✓ recovered") and "incident-response" in line and len(line) <= 120
    assert "\x1b" not in run.stdout
    report = out / "report.html"
    results = json.loads((out / "results.json").read_text())
    assert [r["scenario"] for r in results["results"]] == ["service-down"]
    assert len(list((out / "reviews").glob("*-gameday-service-down-incident-response.md"))) == 1

    dumped = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)
    assert dom.count("table", "scorecard") == 1
    assert dom.count("tr", "gd-score-row") == 1
    assert dom.count("table", "gd-steps") == 1
    assert dom.count("tr", "gd-step") == len(results["results"][0]["steps"])
    assert dom.count("svg", "gameday-timeline") == 1
    assert dom.count("rect") > 5
    assert "pytest" not in dumped.stdout.lower()  # our own page, not pytest-html's
    assert "service-down" in dumped.stdout and "recovered" in dumped.stdout

    png = tmp_path / "gameday-report.png"
    shot = chromium(
        f"--screenshot={png}",
        "--window-size=1400,900",
        report.as_uri(),
        profile=tmp_path / "profile",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    if os.environ.get("GAMEDAY_SCREENSHOT"):
        shutil.copyfile(png, os.environ["GAMEDAY_SCREENSHOT"])
