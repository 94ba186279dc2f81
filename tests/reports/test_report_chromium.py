"""The HTML report as a reader sees it: headless Chromium opens a pytest-html report built
from factory records (one recovered, one undetected with a second finding, one
recovered-after-lift), after pytest-html's own script has drawn the page.

Two views of the same page: `--dump-dom` (the DOM once the script ran: summary table,
badges, step tables, timelines) and `--screenshot` (a PNG, kept in the test's tmp dir and
checked for the verdict badges' colours, so a page that renders blank or unstyled fails).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from harness.reports._format import VERDICT_COLOURS
from harness.reports.html_plugin import NO_LOG

from .factories import API_REAL, after_lift, recovered, undetected_with_finding

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install chromium; .ci/run installs it)"
)
WIDTH, HEIGHT = 1400, 5200

INNER_CONFTEST = """
from harness.reports import html_plugin

def pytest_configure(config):
    html_plugin.register(config)
"""

INNER_TEST = """
import json, pathlib

import pytest

RECORDS = json.loads(pathlib.Path(__file__).with_name("records.json").read_text())

@pytest.mark.parametrize("index", range(len(RECORDS)), ids=[r["scenario"] for r in RECORDS])
def test_gameday(record_property, index):
    record_property("gameday", RECORDS[index])
"""


def chromium(*args: str, profile: Path, timeout: float = 120) -> str:
    """Run headless Chromium once; its helper processes go with it, whatever happens."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",  # let pytest-html's script draw the page
        *args,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # zygote and renderers, if any are left
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chromium-report")
    records = [recovered().to_dict(), undetected_with_finding().to_dict(), after_lift().to_dict()]
    (root / "records.json").write_text(json.dumps(records))
    (root / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST))
    (root / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    path = root / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(root),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:gameday",  # the html plugin alone, registered by the conftest above
            "--rootdir",
            str(root),
            "--html",
            str(path),
            "--self-contained-html",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path


class _Dom(HTMLParser):
    """Just enough of the DOM: elements by class, their text, and the text of <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str], dict[str, str]]] = []
        self.classes: Counter[str] = Counter()
        self.tags: Counter[str] = Counter()
        self.badges: list[tuple[str, str]] = []  # (background colour, verdict)
        self.text: list[str] = []
        self.title = ""
        self.env: list[str] = []
        self.ids: set[str] = set()
        self.summary_links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = set(a.get("class", "").split())
        self.tags[tag] += 1
        self.classes.update(classes)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and any("gd-summary-row" in c for _, c, _ in self.stack):
            self.summary_links.append(a.get("href", ""))
        if tag not in ("br", "img", "meta", "link", "input", "col", "hr"):
            self.stack.append((tag, classes, a))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.stack:
            return
        tag, classes, attrs = self.stack[-1]
        if tag == "title" and attrs.get("id") == "head-title":
            self.title += data
        if "gd-verdict" in classes:
            m = re.search(r"background:(#[0-9a-fA-F]{6})", attrs.get("style", ""))
            self.badges.append((m.group(1).lower() if m else "", data))
        if any(t == "table" and a.get("id") == "environment" for t, _, a in self.stack):
            self.env.append(data.strip())
        self.text.append(data)


def test_chromium_renders_the_report_with_summary_badges_step_tables_and_timelines(
    report, tmp_path
):
    dom_text = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile-dom")
    # The results table is drawn by pytest-html's script from a JSON blob: strip the blob,
    # so only what the script rendered counts.
    rendered = re.sub(r'data-jsonblob="[^"]*"', "", dom_text)
    dom = _Dom()
    dom.feed(rendered)
    text = " ".join(dom.text)

    assert dom.title == "Gameday report — incident-response"
    assert "Gameday backend" in dom.env and "local" in dom.env and "Gameday harness" in dom.env
    assert dom.classes["gd-summary-table"] == 1
    assert dom.classes["gd-summary-row"] == 3
    # Each summary row links to its test's row (pytest-html's script gives it the node id).
    assert len(dom.summary_links) == 3
    for href in dom.summary_links:
        assert href.startswith("#") and unquote(href[1:]) in dom.ids, href
    # Each gameday's block: facts, a timeline and a step table, drawn into the page.
    assert dom.classes["gd-result"] == 3
    assert dom.classes["gd-steps"] == 3
    assert dom.classes["gameday-timeline"] == 3 and dom.tags["svg"] >= 3
    badges = set(dom.badges)
    for verdict in ("recovered", "undetected", "not-recovered", "recovered-after-lift"):
        assert (VERDICT_COLOURS[verdict], verdict) in badges, (verdict, sorted(badges))
    assert "self-healed once the fault was lifted" in text
    assert "failing at baseline" in text
    assert "Not checked by this verdict" in text
    assert NO_LOG not in text
    assert "% Total" not in text and API_REAL not in text
    assert "localhost port 8000" in text


def _png_pixels(path: Path) -> tuple[int, int, Counter[tuple[int, int, int]]]:
    """Width, height and a count of each RGB colour of an 8-bit RGB(A) PNG (no Pillow here)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, colours, i = bytearray(stride), Counter[tuple[int, int, int]](), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(zip(line[0::bpp], line[1::bpp], line[2::bpp], strict=True))
        prev = line
    return width, height, colours


def test_chromium_screenshot_shows_the_verdict_badges(report, tmp_path):
    png = tmp_path / "report.png"
    chromium(
        f"--screenshot={png}",
        f"--window-size={WIDTH},{HEIGHT}",
        report.as_uri(),
        profile=tmp_path / "profile-shot",
    )
    width, height, colours = _png_pixels(png)
    print(f"screenshot: {png} ({width}×{height}, {png.stat().st_size} bytes)")
    assert width >= WIDTH // 2 and height >= HEIGHT // 2  # device scale may differ
    assert len(colours) > 50  # a rendered page, not a blank one
    # Each verdict's badge colour is painted (solid badge backgrounds: exact pixels).
    for verdict in ("recovered", "undetected", "recovered-after-lift"):
        rgb = tuple(int(VERDICT_COLOURS[verdict][i : i + 2], 16) for i in (1, 3, 5))
        assert colours[rgb] > 100, (verdict, rgb)
