"""The reference TestGen service against real PostgreSQL, Redis and the mock LLM."""

from __future__ import annotations

import uuid

import httpx


def _source(name: str = "add") -> str:
    return f"def {name}(a, b):\n    return a + b  # {uuid.uuid4().hex}\n"


def test_generate_round_trip_and_readback(start_testgen, postgres):
    tg = start_testgen()
    r = tg.generate(_source())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provider"] == "openai"
    assert body["cached"] is False
    assert "def test_add" in body["tests"]
    job = httpx.get(f"{tg.base}/v1/jobs/{body['job_id']}")
    assert job.status_code == 200
    assert job.json()["tests"] == body["tests"]
    with postgres.connect() as conn:
        row = conn.execute("SELECT provider FROM jobs WHERE id = %s", (body["job_id"],)).fetchone()
    assert row == ("openai",)
