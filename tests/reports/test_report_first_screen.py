"""The report's first screen, as a reader opens it: headless Chromium at 1400 × 900.

The report is built from factory records shaped like the default run (13 incidents on the
shipped runbook, every kind of verdict, and the same 13 on a fixed copy). Two views:

* the DOM after layout: a copy of the page with a small probe script appended, printed with
  `--dump-dom`; the probe writes the scorecard's and the first failing gameday's reason's
  boxes, and the page's scroll width, into the DOM;
* a screenshot at 1400 × 900: exactly that size, with the scorecard's verdict colours in it.

The first screen must hold the whole scorecard and the first failing gameday's reason, and
the page must not scroll sideways.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.reports._format import VERDICT_COLOURS
from harness.reports.html import render_page
from harness.reports.json_results import Run, RunInfo

from .factories import suite_run
from .test_report_chromium import _png_pixels

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install chromium; .ci/run installs it)"
)
WIDTH, HEIGHT = 1400, 900

PROBE = """
<script>
(function () {
  function box(el) {
    if (!el) return null;
    var b = el.getBoundingClientRect();
    return {top: b.top, bottom: b.bottom, left: b.left, right: b.right};
  }
  var failing = Array.prototype.find.call(
    document.querySelectorAll("section.gameday"),
    function (s) { return s.dataset.verdict !== "recovered"; });
  var out = {
    viewport: [window.innerWidth, window.innerHeight],
    scrollWidth: document.documentElement.scrollWidth,
    scorecard: box(document.querySelector(".gd-scorecard")),
    reason: box(failing && failing.querySelector(".gd-reason")),
    failing: failing ? failing.id : null
  };
  var pre = document.createElement("pre");
  pre.id = "layout-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium(*args: str, profile: Path, timeout: float = 120) -> str:
    """Headless Chromium once, with the flags a CI box needs; its helpers go with it."""
    assert CHROMIUM is not None
    cmd = [
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
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("first-screen")
    (root / "incident-response.md").write_text("# runbook\n")
    (root / "fixed.md").write_text("# runbook\n")
    results = suite_run(str(root))
    path = root / "report.html"
    path.write_text(render_page(Run(RunInfo.now(results, backend="local"), results)))
    return path


def layout(report: Path, tmp_path: Path) -> dict:
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "profile-dom")
    m = re.search(r'<pre id="layout-probe">([^<]*)</pre>', dom)
    assert m, "the probe did not run"
    return json.loads(m.group(1).replace("&quot;", '"'))


def test_the_scorecard_and_the_first_failing_reason_are_in_the_first_screen(report, tmp_path):
    box = layout(report, tmp_path)
    print(f"layout at {WIDTH}×{HEIGHT}: {box}")
    # The width is the window's; positions are from the top of the page (nothing scrolled),
    # so they compare with the screenshot's 900 px whatever height --dump-dom's window has.
    assert box["viewport"][0] == WIDTH
    assert box["scorecard"]["top"] >= 0 and box["scorecard"]["bottom"] <= HEIGHT
    assert box["failing"], "no failing gameday in the report"
    assert box["reason"]["top"] >= 0 and box["reason"]["bottom"] <= HEIGHT, box
    # No horizontal scroll: nothing wider than the window.
    assert box["scrollWidth"] <= WIDTH


def test_the_first_screen_shows_the_scorecards_verdicts(report, tmp_path):
    png = tmp_path / "first-screen.png"
    chromium(f"--screenshot={png}", report.as_uri(), profile=tmp_path / "profile-shot")
    width, height, colours = _png_pixels(png)
    print(f"screenshot: {png} ({width}×{height})")
    assert (width, height) == (WIDTH, HEIGHT)
    for verdict in ("not-recovered", "undetected", "recovered-after-lift", "recovered"):
        rgb = tuple(int(VERDICT_COLOURS[verdict][i : i + 2], 16) for i in (1, 3, 5))
        assert colours[rgb] > 100, (verdict, rgb)
