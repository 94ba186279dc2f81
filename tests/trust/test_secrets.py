"""Secrets never appear in any output or report (docs/design.md §7).

Canary API keys are planted in the environment of a real `gameday run` (both shipped
runbooks, plus a careless copy of the fixed one whose steps print the keys on purpose:
`echo $OPENAI_API_KEY`, `docker inspect`, `docker exec … env`, `curl -v` with the bearer
header). The canaries, or any 12-character piece of their random part, must appear in none
of: the run's stdout and stderr (pytest's output included), report.html, results.json, the
per-result JSON files with every step's output, the reviews.

The second test proves the first can fail: the same careless runbook with redaction
switched off (tests/trust/site/sitecustomize.py) must leak the canary into the reports.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from .support import REPO, SITE, checkout_env

FIXED = REPO / "runbooks" / "incident-response.fixed.md"
SHIPPED = REPO / "runbooks" / "incident-response.md"

# Detection steps that print the keys; they exit 0 on a healthy stack, so they never count
# as detecting anything, but every gameday runs them and records their output.
LEAKY_STEPS = (
    'echo "keys in use: $OPENAI_API_KEY $ANTHROPIC_API_KEY"\n'
    "docker inspect testgen-copilot\n"
    "docker exec testgen-copilot env\n"
    'curl -v -s -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" '
    "https://api.openai.com/v1/models\n"
)


def careless_runbook(tmp: Path) -> Path:
    text = FIXED.read_text()
    for anchor in (
        "# Check alert source\n",  # Detection and Alert: polled by llm-quota
        "# 1. Check if the API container is running",  # Service Down: polled by service-down
    ):
        assert anchor in text, anchor
        text = text.replace(anchor, "# Print what the service runs with\n" + LEAKY_STEPS + anchor)
    path = tmp / "careless-incident-response.md"
    path.write_text(text)
    return path


def canaries() -> dict[str, str]:
    return {
        "OPENAI_API_KEY": f"sk-canary-{secrets.token_hex(16)}",
        "ANTHROPIC_API_KEY": f"sk-ant-canary-{secrets.token_hex(16)}",
    }


def needles(keys: dict[str, str]) -> list[str]:
    """Each key, and every 12-character window of its random part (a truncated excerpt
    must not leak a usable piece either)."""
    out = []
    for value in keys.values():
        out.append(value)
        token = value.rsplit("-", 1)[1]
        out += [token[i : i + 12] for i in range(0, len(token) - 11, 4)]
    return out


def run_gameday(tmp: Path, keys: dict[str, str], runbooks: list[Path], scenarios: list[str],
                redact: bool = True, backend: str = "local",
                ) -> tuple[subprocess.CompletedProcess[str], Path]:  # fmt: skip
    out = tmp / "out"
    if redact:
        env = checkout_env(**keys)
    else:
        env = checkout_env(SITE, **keys, GAMEDAY_TRUST_NO_REDACT="1")
    # The local backend: what an engine happens to run on this machine must not decide it
    # (the docker backend has its own suite in scripts/ci-docker.sh).
    argv = ["gameday", "run", "--backend", backend, "--out", str(out)]
    for sid in scenarios:
        argv += ["--scenario", sid]
    for rb in runbooks:
        argv += ["--runbook", str(rb)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, env=env, timeout=900)
    return proc, out


def leaks(proc: subprocess.CompletedProcess[str], out: Path, keys: dict[str, str]) -> list[str]:
    found = []
    sources = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode()}
    sources.update({str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    for name, data in sources.items():
        for needle in needles(keys):
            if needle.encode() in data:
                found.append(f"{name}: {needle}")
                break
    return found


@pytest.mark.live  # real services write the logs and outputs searched here
def test_canary_keys_appear_in_no_output_report_or_step_output(tmp_path):
    keys = canaries()
    careless = careless_runbook(tmp_path)
    proc, out = run_gameday(
        tmp_path, keys, [SHIPPED, FIXED, careless], ["llm-quota", "service-down"]
    )
    assert (out / "results.json").exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())["results"]
    assert len(results) == 6, [(r["scenario"], r["runbook"]) for r in results]
    assert (out / "report.html").exists()
    assert list((out / "reviews").iterdir()), "no review was written"
    # The careless steps really ran and printed something where the keys were.
    careless_run = next(
        r
        for r in results
        if r["scenario"] == "service-down"
        and r["runbook"].endswith("careless-incident-response.md")
    )
    assert "[REDACTED]" in json.dumps(careless_run)
    assert not leaks(proc, out, keys)


def test_the_canary_check_finds_a_leak_when_redaction_is_switched_off(tmp_path):
    """The check's own sensitivity: the careless steps print the keys from the operator's
    shell, `docker inspect` and `docker exec env`, which the fake answers from the same
    compose environment, so the fake backend proves it as well as live processes would."""
    keys = canaries()
    proc, out = run_gameday(
        tmp_path, keys, [careless_runbook(tmp_path)], ["service-down"], redact=False,
        backend="fake",
    )  # fmt: skip
    assert (out / "results.json").exists(), proc.stderr[-3000:]
    found = leaks(proc, out, keys)
    assert any(f.startswith("results.json") for f in found), found
    assert any(f.startswith("report.html") for f in found), found
