"""The reference TestGen service against real PostgreSQL, Redis and the mock LLM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import psutil
from servicekit import REPO, free_port, service_env

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) \S")


def _source(name: str = "add") -> str:
    return f"def {name}(a, b):\n    return a + b  # {uuid.uuid4().hex}\n"


def _mode(llm, provider: str, mode: str, **extra) -> None:
    r = httpx.put(f"{llm.base}/_chaos/mode", json={"provider": provider, "mode": mode, **extra})
    assert r.status_code == 200, r.text


def _metric(tg, name: str, **labels: str) -> float:
    text = httpx.get(f"{tg.base}/metrics").text
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


def _quiet(log: str) -> None:
    """What the runbook greps for must not appear in healthy operation."""
    for marker in ("ERROR", "database", "llm_error"):
        assert marker not in log, f"{marker!r} logged during normal operation:\n{log}"


# -- the happy path ---------------------------------------------------------------------------

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
    assert job.json()["provider"] == "openai"
    with postgres.connect() as conn:
        row = conn.execute("SELECT provider FROM jobs WHERE id = %s", (body["job_id"],)).fetchone()
    assert row == ("openai",)
    assert httpx.get(f"{tg.base}/v1/jobs/{uuid.uuid4()}").status_code == 404
    assert httpx.get(f"{tg.base}/v1/jobs/not-a-uuid").status_code == 404
    assert httpx.get(f"{tg.base}/ready").json() == {"postgres": "ok", "redis": "ok", "llm": "ok"}

    log = tg.log()
    assert all(LINE.match(line) for line in log.splitlines()), log
    assert re.search(r"INFO request method=POST path=/v1/generate status=200 duration_ms=", log)
    _quiet(log)
    _quiet(tg.output())


def test_bad_requests_are_400(start_testgen):
    tg = start_testgen()
    assert httpx.post(f"{tg.base}/v1/generate", content=b"{nope").status_code == 400
    assert httpx.post(f"{tg.base}/v1/generate", json={"language": "python"}).status_code == 400
    assert httpx.post(f"{tg.base}/v1/generate", json=["x"]).status_code == 400
    _quiet(tg.log())


def test_cache_hit_skips_the_provider(start_testgen, llm):
    tg = start_testgen()
    source = _source("mul")
    first = tg.generate(source).json()
    second = tg.generate(source).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["provider"] == "openai"
    assert second["tests"] == first["tests"]
    assert second["job_id"] != first["job_id"]
    assert httpx.get(f"{tg.base}/v1/jobs/{second['job_id']}").status_code == 200
    stats = httpx.get(f"{llm.base}/_chaos/stats").json()
    assert stats["openai"]["responses"] == {"200": 1}
    # the cache is by content: another language is another entry
    assert tg.generate(source, language="python3").json()["cached"] is False


def test_rate_limit_429(start_testgen):
    tg = start_testgen(LLM_RATE_LIMIT="2")
    if time.time() % 60 > 56:  # the counter is per clock minute: stay inside one
        time.sleep(60.5 - time.time() % 60)
    codes = [tg.generate(_source()).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = tg.generate(_source())
    assert r.status_code == 429 and "rate limit" in r.json()["error"]
    assert _metric(tg, "http_requests_total", path="/v1/generate", status="429") >= 2


def test_metrics(start_testgen):
    tg = start_testgen()
    assert tg.generate(_source()).status_code == 200
    text = httpx.get(f"{tg.base}/metrics").text
    for name in ("http_requests_total", "active_requests", "llm_requests_total",
                 "http_request_duration_seconds_bucket", "process_resident_memory_bytes"):
        assert name in text, name
    assert _metric(tg, "llm_requests_total", provider="openai", status="200") == 1
    assert _metric(tg, "http_requests_total", method="POST", path="/v1/generate",
                   status="200") == 1
    httpx.get(f"{tg.base}/v1/jobs/{uuid.uuid4()}")
    assert _metric(tg, "http_requests_total", path="/v1/jobs/{id}", status="404") == 1


# -- LLM provider failures ---------------------------------------------------------------------

def test_quota_exhausted_is_502_with_llm_error(start_testgen, llm):
    tg = start_testgen()
    _mode(llm, "openai", "quota_exceeded")
    r = tg.generate(_source())
    assert r.status_code == 502
    assert r.json()["reason"] == "insufficient_quota"
    assert "ERROR llm_error provider=openai status=429 reason=insufficient_quota" in tg.log()
    assert _metric(tg, "llm_requests_total", provider="openai", status="429") == 1
    # /v1/models still answers under an exhausted quota, as the real API does: still ready
    assert httpx.get(f"{tg.base}/ready").status_code == 200


def test_malformed_and_server_error_are_llm_errors(start_testgen, llm):
    tg = start_testgen()
    _mode(llm, "openai", "malformed")
    assert tg.generate(_source()).status_code == 502
    _mode(llm, "openai", "server_error")
    assert tg.generate(_source()).status_code == 502
    log = tg.log()
    assert "ERROR llm_error provider=openai status=malformed reason=malformed_response" in log
    assert "ERROR llm_error provider=openai status=500 reason=server_error" in log
    ready = httpx.get(f"{tg.base}/ready")
    assert ready.status_code == 503
    assert ready.json()["llm"].startswith("error:")
    assert ready.json()["postgres"] == ready.json()["redis"] == "ok"


def test_fallback_to_ollama(start_testgen, llm):
    tg = start_testgen(LOCAL_LLM_ENABLED="true")
    _mode(llm, "openai", "rate_limited")
    r = tg.generate(_source())
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == "ollama"
    assert "ERROR llm_error provider=openai status=429 reason=rate_limit_exceeded" in tg.log()
    assert _metric(tg, "llm_requests_total", provider="ollama", status="200") == 1
    # primary down, fallback up: ready; both down: not ready, and generate is 502
    _mode(llm, "openai", "server_error")
    assert httpx.get(f"{tg.base}/ready").status_code == 200
    _mode(llm, "ollama", "server_error")
    assert httpx.get(f"{tg.base}/ready").status_code == 503
    assert tg.generate(_source()).status_code == 502


def test_anthropic_primary(start_testgen, llm):
    tg = start_testgen(PRIMARY_LLM_PROVIDER="anthropic")
    r = tg.generate(_source())
    assert r.status_code == 200 and r.json()["provider"] == "anthropic"
    assert httpx.get(f"{tg.base}/ready").status_code == 200
    _mode(llm, "anthropic", "rate_limited")
    assert tg.generate(_source()).status_code == 502
    assert "ERROR llm_error provider=anthropic status=429 reason=rate_limit_error" in tg.log()


def test_missing_api_key_is_a_provider_failure(start_testgen):
    tg = start_testgen(OPENAI_API_KEY="")
    assert tg.generate(_source()).status_code == 502
    assert "ERROR llm_error provider=openai status=401" in tg.log()


def test_hanging_provider_is_bounded(start_testgen, llm):
    tg = start_testgen(LOCAL_LLM_ENABLED="true")
    _mode(llm, "openai", "hang")
    started = time.monotonic()
    r = tg.generate(_source(), timeout=20)
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.json()["provider"] == "ollama"
    assert 4.5 < elapsed < 8, elapsed
    assert "ERROR llm_error provider=openai status=timeout" in tg.log()
    t0 = time.monotonic()
    assert httpx.get(f"{tg.base}/ready", timeout=5).status_code == 200  # fallback answers
    assert time.monotonic() - t0 < 2
    assert httpx.get(f"{llm.base}/_chaos/stats").json()["openai"]["hangs"] >= 1


# -- PostgreSQL and Redis failures -------------------------------------------------------------

def test_database_down_500_then_recovers(start_testgen, postgres):
    tg = start_testgen()
    assert tg.generate(_source()).status_code == 200
    postgres.stop()
    try:
        t0 = time.monotonic()
        r = tg.generate(_source())
        assert r.status_code == 500 and r.json()["error"] == "database unavailable"
        assert time.monotonic() - t0 < 6
        assert httpx.get(f"{tg.base}/v1/jobs/{uuid.uuid4()}").status_code == 500
        t0 = time.monotonic()
        ready = httpx.get(f"{tg.base}/ready", timeout=5)
        assert time.monotonic() - t0 < 2
        assert ready.status_code == 503
        assert ready.json()["postgres"].startswith("error:")
        assert ready.json()["redis"] == ready.json()["llm"] == "ok"
        assert httpx.get(f"{tg.base}/health").status_code == 200
        log = tg.log()
        assert re.search(r"ERROR database unavailable: .*[Cc]onnection refused", log), log
    finally:
        postgres.start()
    deadline = time.monotonic() + 15
    while (code := tg.generate(_source()).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert code == 200
    assert httpx.get(f"{tg.base}/ready").status_code == 200


def test_starts_while_dependencies_are_down(start_testgen):
    dead = free_port()
    tg = start_testgen(TESTGEN_DATABASE_URL=f"postgresql://testgen:x@127.0.0.1:{dead}/testgen",
                       TESTGEN_REDIS_URL=f"redis://127.0.0.1:{dead}/0")
    assert httpx.get(f"{tg.base}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{tg.base}/ready", timeout=5)
    assert ready.status_code == 503
    body = ready.json()
    assert body["postgres"].startswith("error:") and body["redis"].startswith("error:")
    assert body["llm"] == "ok"


def test_redis_down_degrades(start_testgen):
    dead = free_port()
    tg = start_testgen(TESTGEN_REDIS_URL=f"redis://127.0.0.1:{dead}/0", LLM_RATE_LIMIT="1")
    source = _source()
    for _ in range(2):  # no rate limit, no cache: both go to the provider
        r = tg.generate(source)
        assert r.status_code == 200, r.text
        assert r.json()["cached"] is False
    assert httpx.get(f"{tg.base}/v1/jobs/{r.json()['job_id']}").status_code == 200
    log = tg.log()
    assert "ERROR redis unavailable" in log
    assert "database" not in log and "llm_error" not in log
    ready = httpx.get(f"{tg.base}/ready")
    assert ready.status_code == 503 and ready.json()["redis"].startswith("error:")


def test_redis_restart_recovers(start_testgen, redis_server):
    tg = start_testgen()
    source = _source()
    assert tg.generate(source).status_code == 200
    redis_server.stop()
    try:
        assert tg.generate(_source()).status_code == 200
        assert "ERROR redis unavailable" in tg.log()
    finally:
        redis_server.start()
    assert tg.generate(_source()).status_code == 200  # reconnects by itself
    assert httpx.get(f"{tg.base}/ready").status_code == 200


def _blackhole() -> socket.socket:
    """Accepts connections (kernel backlog) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def test_silent_dependencies_fail_fast(start_testgen):
    hole = _blackhole()
    try:
        port = hole.getsockname()[1]
        tg = start_testgen(TESTGEN_DATABASE_URL=f"postgresql://t:x@127.0.0.1:{port}/testgen",
                           TESTGEN_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        t0 = time.monotonic()
        r = tg.generate(_source())
        assert r.status_code == 500
        assert time.monotonic() - t0 < 7
        t0 = time.monotonic()
        assert httpx.get(f"{tg.base}/ready", timeout=5).status_code == 503
        assert time.monotonic() - t0 < 1.8
        log = tg.log()
        assert "ERROR redis unavailable" in log and "ERROR database unavailable" in log
    finally:
        hole.close()


# -- start-up refusals, shutdown ---------------------------------------------------------------

def _run_main(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.services.testgen"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=20)


def test_refuses_to_start_without_required_variable(tmp_path):
    log_file = tmp_path / "logs" / "app.log"
    for name in ("TESTGEN_SECRET_KEY", "TESTGEN_DATABASE_URL", "TESTGEN_REDIS_URL"):
        env = service_env(TESTGEN_DATABASE_URL="postgresql://t:x@127.0.0.1:1/t",
                          TESTGEN_REDIS_URL="redis://127.0.0.1:1/0",
                          TESTGEN_SECRET_KEY="s3cret-value", TESTGEN_LOG_FILE=str(log_file),
                          TESTGEN_PORT=str(free_port()), TESTGEN_HOST="127.0.0.1")
        env[name] = ""  # empty counts as missing
        if name == "TESTGEN_SECRET_KEY":
            del env[name]
        proc = _run_main(env)
        assert proc.returncode == 78
        assert proc.stdout == ""
        assert proc.stderr == f"testgen: refusing to start: required variable {name} is not set\n"
        assert f"ERROR refusing to start: required variable {name} is not set" in \
            log_file.read_text()
    assert "s3cret-value" not in log_file.read_text()


def test_refuses_bad_values(tmp_path):
    env = service_env(TESTGEN_DATABASE_URL="mysql://x/y", TESTGEN_REDIS_URL="redis://h/0",
                      TESTGEN_SECRET_KEY="k")
    proc = _run_main(env)
    assert proc.returncode == 78 and proc.stderr.count("\n") == 1
    assert "TESTGEN_DATABASE_URL" in proc.stderr and "mysql" not in proc.stderr
    env.update(TESTGEN_DATABASE_URL="postgresql://h/d", PRIMARY_LLM_PROVIDER="gemini")
    assert _run_main(env).returncode == 78


def test_refuses_to_start_on_taken_port(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    log_file = tmp_path / "app.log"
    try:
        env = service_env(TESTGEN_DATABASE_URL="postgresql://t:x@127.0.0.1:1/t",
                          TESTGEN_REDIS_URL="redis://127.0.0.1:1/0", TESTGEN_SECRET_KEY="k",
                          TESTGEN_HOST="127.0.0.1", TESTGEN_PORT=str(port),
                          TESTGEN_LOG_FILE=str(log_file))
        proc = _run_main(env)
    finally:
        taken.close()
    assert proc.returncode == 98
    assert proc.stderr == (
        f"testgen: refusing to start: port {port} on 127.0.0.1 is already in use\n"
    )
    assert f"ERROR refusing to start: port {port} on 127.0.0.1 is already in use" in \
        log_file.read_text()


def test_sigterm_is_graceful(start_testgen):
    tg = start_testgen()
    tg.proc.send_signal(signal.SIGTERM)
    assert tg.proc.wait(10) == 0
    assert "testgen stopped" in tg.output()
    _quiet(tg.log())


# -- chaos hooks ---------------------------------------------------------------------------------

def test_chaos_endpoints_absent_by_default(start_testgen):
    tg = start_testgen()
    assert httpx.post(f"{tg.base}/_chaos/memory", json={"mb": 8}).status_code == 404
    assert httpx.delete(f"{tg.base}/_chaos/memory").status_code == 404


def test_chaos_memory_assault(start_testgen):
    tg = start_testgen(TESTGEN_CHAOS_HOOKS="1")
    proc = psutil.Process(tg.proc.pid)
    before = proc.memory_info().rss
    r = httpx.post(f"{tg.base}/_chaos/memory", json={"mb": 96, "step_mb": 32, "interval_ms": 10})
    assert r.status_code == 202
    deadline = time.monotonic() + 10
    while httpx.get(f"{tg.base}/_chaos/memory").json()["held_mb"] < 96:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert proc.memory_info().rss - before > 90 * 2**20  # resident, not just reserved
    assert httpx.post(f"{tg.base}/_chaos/memory", json={"mb": "x"}).status_code == 400
    assert httpx.delete(f"{tg.base}/_chaos/memory").json()["freed_mb"] == 96
    assert proc.memory_info().rss - before < 40 * 2**20
    assert httpx.get(f"{tg.base}/health").status_code == 200


# -- the rate limit is per client ----------------------------------------------------------------

def _same_minute(seconds_needed: float = 8.0) -> None:
    """The counter is per clock minute: start where the whole test fits in one."""
    if time.time() % 60 > 60 - seconds_needed:
        time.sleep(60.5 - time.time() % 60)


def _post(tg, headers: dict[str, str] | None = None, local_address: str | None = None) -> int:
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    with httpx.Client(headers=headers or {}, transport=transport, timeout=15) as client:
        r = client.post(f"{tg.base}/v1/generate", json={"language": "python", "source": _source()})
    return r.status_code


def test_rate_limit_is_per_client_key_or_address(start_testgen):
    tg = start_testgen(LLM_RATE_LIMIT="2")
    _same_minute()
    alice, bob = {"X-Api-Key": "alice-key-4f1c"}, {"Authorization": "Bearer bob-token-77e0"}
    assert [_post(tg, alice) for _ in range(3)] == [200, 200, 429]
    # Another key, and the other header, are clients of their own.
    assert [_post(tg, bob) for _ in range(3)] == [200, 200, 429]
    assert _post(tg, {"X-Api-Key": "carol-key-0b2d"}) == 200
    # Without a key, the client's address counts: 127.0.0.1 and 127.0.0.2 are two clients.
    assert [_post(tg) for _ in range(3)] == [200, 200, 429]
    assert _post(tg, local_address="127.0.0.2") == 200
    log = tg.log()
    assert "rate limited client=key:" in log and "rate limited client=addr:127.0.0.1" in log
    for secret in ("alice-key-4f1c", "bob-token-77e0"):  # keys are hashed, never logged
        assert secret not in log and secret not in tg.output()


class _Roles:
    """A compose model whose API plays TestGen's role under its own name (no `x-roles`)."""

    def role(self, name: str) -> str:
        return name


class _Published:
    """What the probe and the load ask of a stack: which service is the API, and where port
    8000 is published."""

    compose = _Roles()

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))

    def published(self, port: int) -> tuple[str, int] | None:
        return self.address if port == 8000 else None


def test_the_limit_is_declared_in_standard_headers(start_testgen):
    tg = start_testgen(LLM_RATE_LIMIT="2")
    _same_minute(8.0)
    first = tg.generate(_source())
    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == first.headers["RateLimit-Remaining"] == "1"
    assert 0 < int(first.headers["RateLimit-Reset"]) <= 60
    tg.generate(_source())
    over = tg.generate(_source())
    assert over.status_code == 429 and over.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(over.headers["Retry-After"]) <= 60


def test_probe_and_load_are_distinct_clients_that_stay_under_the_declared_limit(start_testgen):
    from harness.observe.load import LOAD_CLIENT, Load
    from harness.observe.probes import PROBE_CLIENT, steady_state

    assert LOAD_CLIENT != PROBE_CLIENT
    tg = start_testgen(LLM_RATE_LIMIT="3")
    _same_minute(15.0)
    stack = _Published(tg.base)
    load = Load(stack, time.monotonic, rate_per_s=20.0, max_requests=8).start()  # type: ignore[arg-type]
    time.sleep(1.5)
    load.stop()
    statuses = [r.status for r in load.requests]
    # The first answer declares 3/min: from then on the load holds back instead of being
    # throttled (it spends at most 80 % of the limit, spread over the minute).
    assert statuses == [200], statuses
    assert load.budget.rate.held_back > 0 and load.budget.rate.throttled == 0
    # The harness's probe is a client of its own, with its own quota; a probe that ignores
    # the declared limit (no budget shared between calls) is throttled.
    held, why = steady_state(stack)  # type: ignore[arg-type]
    assert held, why
    for _ in range(2):
        steady_state(stack)  # type: ignore[arg-type]
    held, why = steady_state(stack)  # type: ignore[arg-type]
    assert not held and "rate limit throttled the gameday's own probe" in why, why

