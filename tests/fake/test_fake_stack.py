"""What the fake backend promises beyond the shared contract: the jobs table lives in the
named volume, a stopped container's port refuses connections, the API answers from its
dependencies' state, a stack leaves nothing behind, and `auto` never chooses it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.backends import make_stack, select_backend
from harness.backends.base import Stack, Status
from harness.backends.fake import FakeStack
from harness.compose import ComposeFile
from harness.errors import OptionError
from harness.faults.network import LinkToxic
from harness.observe.probes import api_base, steady_state
from harness.run.gameday import operator_environment

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ComposeFile(ROOT / "docker-compose.chaos.yml")


@pytest.fixture
def stack() -> Iterator[FakeStack]:
    live = FakeStack(COMPOSE, operator_environment(), ROOT / ".env.example")
    try:
        live.up(timeout=20)
        yield live
    finally:
        live.close()


def generate(stack: Stack) -> httpx.Response:
    return httpx.post(f"{api_base(stack)}/v1/generate",
                      json={"language": "python", "source": "def f(x): return x"}, timeout=5)


def job(stack: Stack, job_id: str) -> int:
    return httpx.get(f"{api_base(stack)}/v1/jobs/{job_id}", timeout=5).status_code


def refuses(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_jobs_survive_restarts_and_recreation_but_not_down_v(stack: FakeStack) -> None:
    first = generate(stack)
    assert first.status_code == 200, first.text
    job_id = first.json()["job_id"]
    stack.restart("postgres")
    assert job(stack, job_id) == 200
    stack.remove("postgres")  # `down` without -v: the volume stays
    stack.create("postgres", stack.resolve_config()["postgres"])
    assert job(stack, job_id) == 200
    stack.remove("postgres")
    removed = stack.remove_volumes()  # the deployment's volumes, PostgreSQL's among them
    assert f"{COMPOSE.project}_postgres-data" in removed
    assert stack.volume_removals[-1][1] == removed
    stack.create("postgres", stack.resolve_config()["postgres"])
    assert job(stack, job_id) == 404


def test_a_container_that_is_not_running_refuses_connections(stack: FakeStack) -> None:
    api = stack.published(8000)
    assert api is not None
    stack.kill("testgen")
    assert refuses(api)
    stack.start("testgen")
    assert stack.wait_healthy("testgen", 5)
    assert not refuses(api)


def test_ready_names_the_dependency_that_is_down(stack: FakeStack) -> None:
    stack.stop("redis")
    ready = httpx.get(f"{api_base(stack)}/ready", timeout=5)
    assert ready.status_code == 503
    body = ready.json()
    assert body["postgres"] == "ok" and body["llm"] == "ok"
    assert body["redis"].startswith("error: ")  # the service's own reason (redis-py's)
    assert generate(stack).status_code == 200  # Redis down degrades: no cache, no limit
    stack.stop("postgres")
    assert generate(stack).status_code == 500
    assert any("database unavailable" in line for _, line in stack.logs("testgen"))


def test_a_cut_link_is_seen_through_the_real_fault_proxy(stack: FakeStack) -> None:
    cut = LinkToxic(link="postgres", toxic="cut")
    cut.inject(stack)
    assert cut.wait_confirmed(stack, timeout=5)
    assert stack.exec("testgen", ["pg_isready", "-h", "toxiproxy", "-p", "15432"]).exit_code == 2
    assert stack.exec("testgen", ["pg_isready", "-h", "postgres", "-p", "5432"]).exit_code == 0
    holds, observed = steady_state(stack)
    assert not holds and '"postgres":"error: ' in observed, observed  # the service's /ready
    cut.lift(stack)
    assert cut.still_in_effect(stack) is None
    assert steady_state(stack)[0]


def test_a_missing_required_variable_is_a_crash_loop_with_the_reason_in_the_logs(
    stack: FakeStack,
) -> None:
    config = stack.resolve_config({**stack.shell_env, "TESTGEN_SECRET_KEY": ""})["testgen"]
    stack.create("testgen", config)
    state = stack.containers()["testgen"]
    assert state.status in (Status.RESTARTING, Status.EXITED) and state.exit_code == 78
    assert any("required variable TESTGEN_SECRET_KEY is not set" in line
               for _, line in stack.logs("testgen"))
    log_file = stack.host_path("/var/log/testgen/app.log")
    assert log_file is not None and "refusing to start" in log_file.read_text()


def test_exec_answers_redis_cli_from_the_stack(stack: FakeStack) -> None:
    assert stack.exec("testgen", ["redis-cli", "-h", "redis", "ping"]).stdout == b"PONG\n"
    stack.stop("redis")
    down = stack.exec("testgen", ["redis-cli", "-h", "redis", "ping"])
    assert down.exit_code == 1 and b"Connection refused" in down.stdout


def test_pids_are_never_real_processes(stack: FakeStack) -> None:
    pid = stack.containers()["testgen"].pid
    assert pid is not None and pid > 2**22  # above Linux's PID_MAX_LIMIT
    assert stack.owns_pid(pid)
    stack.kill("testgen")
    assert not stack.owns_pid(pid)


def test_close_leaves_no_listener_and_no_temp_dir() -> None:
    stack = FakeStack(COMPOSE, operator_environment(), ROOT / ".env.example")
    stack.up(timeout=20)
    addresses = [stack.endpoint(s, p) for s, p in
                 [("testgen", 8000), ("postgres", 5432), ("redis", 6379), ("llm", 8080),
                  ("toxiproxy", 8474), ("toxiproxy", 15432)]]
    assert not any(refuses(a) for a in addresses)
    stack.close()
    assert all(refuses(a) for a in addresses)
    assert not stack.dir.exists()


def test_the_fake_is_chosen_only_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAMEDAY_BACKEND", raising=False)
    assert select_backend("fake", COMPOSE) == ("fake", "chosen")
    assert select_backend("auto", COMPOSE)[0] in ("local", "docker")
    monkeypatch.setenv("GAMEDAY_BACKEND", "fake")
    assert select_backend(None, COMPOSE)[0] == "fake"
    with pytest.raises(OptionError):
        select_backend("fakes", COMPOSE)
    stack = make_stack("fake", COMPOSE, {})
    try:
        assert stack.backend_name == "fake" and stack.info.backend == "fake"
    finally:
        stack.close()
