"""The healthcheck probe: 0 on 2xx within the deadline, else 1."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from servicekit import REPO, free_port, service_env


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.services.probe", *args],
                          env=service_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=20)


def test_healthy(llm):
    proc = probe(f"{llm.base}/_chaos/health")
    assert proc.returncode == 0 and proc.stderr == ""


def test_unhealthy(llm):
    assert probe(f"http://127.0.0.1:{free_port()}/health").returncode == 1  # refused
    assert probe(f"{llm.base}/nope").returncode == 1  # 404
    assert probe(f"{llm.base}/v1/models").returncode == 1  # 401
    assert probe().returncode == 1
    assert probe("not a url").returncode == 1


def test_deadline_covers_the_whole_exchange(llm):
    httpx.put(f"{llm.base}/_chaos/mode", json={"provider": "ollama", "mode": "hang"})
    t0 = time.monotonic()
    proc = probe(f"{llm.base}/api/tags", "--timeout", "0.5")
    assert proc.returncode == 1 and "no answer within 0.5s" in proc.stderr
    assert time.monotonic() - t0 < 3
    t0 = time.monotonic()
    assert probe(f"{llm.base}/api/tags").returncode == 1  # default: 2 s
    assert 1.9 < time.monotonic() - t0 < 4
