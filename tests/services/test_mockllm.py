"""The mock LLM provider: API shapes, auth, determinism, fault modes, control API."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
from servicekit import OPENAI_KEY, REPO, service_env

OPENAI = {"Authorization": f"Bearer {OPENAI_KEY}"}
ANTHROPIC = {"x-api-key": "sk-ant-mock", "anthropic-version": "2023-06-01"}


def chat(llm, prompt: str = "def add(a, b): return a + b", headers=None, **kw):
    return httpx.post(f"{llm.base}/v1/chat/completions", headers=OPENAI if headers is None
                      else headers, json={"model": "gpt-4o-mini",
                                          "messages": [{"role": "user", "content": prompt}]},
                      **kw)


def mode(llm, provider: str, name: str, **extra):
    r = httpx.put(f"{llm.base}/_chaos/mode", json={"provider": provider, "mode": name, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_openai_shape_and_determinism(llm):
    a, b, c = chat(llm), chat(llm), chat(llm, "def sub(a, b): return a - b")
    assert a.status_code == 200
    content = a.json()["choices"][0]["message"]["content"]
    assert "import pytest" in content and "def test_add" in content
    compile(content, "generated", "exec")  # a real Python module
    assert b.json()["choices"][0]["message"]["content"] == content
    assert "def test_sub" in c.json()["choices"][0]["message"]["content"]
    models = httpx.get(f"{llm.base}/v1/models", headers=OPENAI).json()
    assert models["object"] == "list" and models["data"][0]["object"] == "model"


def test_anthropic_and_ollama_shapes(llm):
    r = httpx.post(f"{llm.base}/v1/messages", headers=ANTHROPIC, json={
        "model": "claude-3-5-haiku-latest", "max_tokens": 100,
        "messages": [{"role": "user", "content": "def f(x): return x"}]})
    assert r.status_code == 200 and r.json()["type"] == "message"
    assert "def test_f" in r.json()["content"][0]["text"]
    assert httpx.get(f"{llm.base}/v1/models", headers=ANTHROPIC).json()["has_more"] is False
    g = httpx.post(f"{llm.base}/api/generate",
                   json={"model": "codellama", "prompt": "def g(): pass", "stream": False})
    assert g.status_code == 200 and g.json()["done"] is True
    assert "def test_g" in g.json()["response"]
    streamed = httpx.post(f"{llm.base}/api/generate", json={"model": "m", "prompt": "x"})
    chunks = [json.loads(line) for line in streamed.text.splitlines()]
    assert [c["done"] for c in chunks] == [False, True]
    assert httpx.get(f"{llm.base}/api/tags").json()["models"]


def test_keys_required_like_the_real_apis(llm):
    for headers in ({}, {"Authorization": "Bearer"}):  # curl sends `Bearer $EMPTY` so
        r = chat(llm, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{llm.base}/v1/models").status_code == 401
    assert httpx.get(f"{llm.base}/v1/usage").status_code == 401
    r = httpx.post(f"{llm.base}/v1/messages", json={"max_tokens": 1, "messages": []},
                   headers={"anthropic-version": "2023-06-01"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    # the key itself never reaches the log
    assert OPENAI_KEY not in llm.output()


def test_quota_exceeded(llm):
    mode(llm, "openai", "quota_exceeded")
    r = chat(llm)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == r.json()["error"]["type"] == "insufficient_quota"
    assert "exceeded your current quota" in r.json()["error"]["message"]
    assert httpx.get(f"{llm.base}/v1/models", headers=OPENAI).status_code == 200
    usage = httpx.get(f"{llm.base}/v1/usage", headers=OPENAI)
    assert usage.status_code == 200 and usage.json()["quota_exceeded"] is True
    # the other providers are untouched
    assert httpx.post(f"{llm.base}/api/generate",
                      json={"prompt": "x", "stream": False}).status_code == 200


def test_rate_limited(llm):
    mode(llm, "anthropic", "rate_limited", retry_after=7)
    r = httpx.post(f"{llm.base}/v1/messages", headers=ANTHROPIC,
                   json={"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["error"]["type"] == "rate_limit_error"
    mode(llm, "openai", "rate_limited")
    r = chat(llm)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"


def test_server_error_ratio_is_deterministic(llm):
    mode(llm, "openai", "server_error", ratio=0.5)
    assert [chat(llm).status_code for _ in range(6)] == [200, 500] * 3
    mode(llm, "openai", "server_error")
    assert chat(llm).status_code == 500
    assert httpx.get(f"{llm.base}/v1/models", headers=OPENAI).status_code == 500


def test_slow_and_malformed(llm):
    mode(llm, "ollama", "slow", delay_ms=400)
    t0 = time.monotonic()
    assert httpx.get(f"{llm.base}/api/tags").status_code == 200
    assert time.monotonic() - t0 >= 0.4
    mode(llm, "openai", "malformed")
    r = chat(llm)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_hang_until_mode_changes(llm):
    mode(llm, "openai", "hang")
    with pytest.raises(httpx.ReadTimeout):
        chat(llm, timeout=0.5)
    result: list[int] = []
    waiter = threading.Thread(target=lambda: result.append(chat(llm, timeout=10).status_code))
    waiter.start()
    time.sleep(0.5)
    assert not result  # still hanging
    mode(llm, "openai", "ok")
    waiter.join(5)
    assert result == [200]
    stats = httpx.get(f"{llm.base}/_chaos/stats").json()
    assert stats["openai"]["hangs"] == 2
    assert stats["openai"]["responses"].get("200") == 1


def test_control_api(llm):
    assert httpx.get(f"{llm.base}/_chaos/health").json() == {"status": "ok"}
    assert httpx.put(f"{llm.base}/_chaos/mode",
                     json={"provider": "openai", "mode": "broken"}).status_code == 400
    assert httpx.put(f"{llm.base}/_chaos/mode",
                     json={"provider": "gemini", "mode": "ok"}).status_code == 400
    assert httpx.put(f"{llm.base}/_chaos/mode", json={"provider": "openai",
                     "mode": "server_error", "ratio": 2}).status_code == 400
    modes = mode(llm, "all", "slow", delay_ms=1)
    assert {m["mode"] for m in modes.values()} == {"slow"}
    assert httpx.get(f"{llm.base}/_chaos/mode").json() == modes
    chat(llm)
    chat(llm, headers={})
    stats = httpx.get(f"{llm.base}/_chaos/stats").json()
    assert stats["openai"]["responses"] == {"200": 1, "401": 1}
    assert stats["openai"]["routes"] == {"/v1/chat/completions": {"200": 1, "401": 1}}
    httpx.post(f"{llm.base}/_chaos/reset")
    stats = httpx.get(f"{llm.base}/_chaos/stats").json()
    assert stats["openai"] == {"requests": 0, "responses": {}, "hangs": 0, "mode": "ok",
                               "routes": {}}


def test_port_taken(mockllm):
    proc = subprocess.run(
        [sys.executable, "-m", "harness.services.mockllm", "--host", "127.0.0.1", "--port",
         str(mockllm.port)], env=service_env(), cwd=REPO, capture_output=True, text=True,
        timeout=20)
    assert proc.returncode == 98
    assert proc.stderr == (
        f"mockllm: refusing to start: port {mockllm.port} on 127.0.0.1 is already in use\n"
    )
