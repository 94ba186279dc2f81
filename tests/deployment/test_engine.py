"""Image tools asked of the image itself, when a Docker engine answers and the image exists
(skipped otherwise: the Dockerfile is then the only source, as the drift report says)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.deployment.drift import drift_report
from harness.deployment.image import engine_tools, image_tools

IMAGE = "testgen-copilot:latest"


def _image_present() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "image", "inspect", IMAGE], capture_output=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


pytestmark = pytest.mark.skipif(not _image_present(), reason=f"no Docker engine with {IMAGE}")


def test_the_image_answers_which_tools_it_has() -> None:
    assert engine_tools(IMAGE, ["sh", "no-such-tool-here"]) == {"sh"}
    assert engine_tools("no-such-image:never", ["sh"]) is None


def test_the_image_wins_over_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        f"services:\n  app:\n    build: .\n    image: {IMAGE}\n    container_name: app\n"
    )
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nRUN apt-get install -y curl\n")
    from_file = image_tools(tmp_path, "app")
    assert from_file is not None and "no-such-tool-here" not in from_file
    seen = image_tools(tmp_path, "app", engine=True, candidates=["sh", "no-such-tool-here"])
    assert seen is not None and "sh" in seen and "no-such-tool-here" not in seen
    rb = tmp_path / "rb.md"
    rb.write_text(
        "# R\n\n## Incident Severity Levels\n\n### SEV-1: Critical (Down)\n- **Definition**: x\n"
        "- **Response Time**: 15 minutes\n- **Escalation**: x\n\n## Common Incident Scenarios\n\n"
        "### Scenario 1: X\n\n**Resolution Steps**:\n```bash\n"
        "docker exec app no-such-tool-here\n```\n"
    )
    report = drift_report(tmp_path, [rb], engine=True)
    [finding] = [f for f in report.findings if f.rule == "exec-tool-missing"]
    assert f"finds nothing in {IMAGE}" in finding.message
