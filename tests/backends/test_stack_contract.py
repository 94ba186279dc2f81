"""The Stack contract, checked the same way against every backend (local, docker).

A scenario gives the same verdict on either backend only if both keep Docker's semantics:
what `up` starts, what stays down and what comes back, which configuration a container
keeps, what `down -v` deletes, and what logs, stats, exec and OOM kills look like.
Tests share one stack per backend; a test that breaks a service puts it back.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx
import psutil
import psycopg
import pytest

from harness.backends.base import ContainerState, Stack, Status
from harness.compose import ServiceConfig
from harness.observe.probes import steady_state

from .support import ROOT, new_stack, require_backend

T = TypeVar("T")
MiB = 1024 * 1024


def wait_for(what: str, probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
             seen: Callable[[], object] | None = None) -> T:
    """Poll until probe() is truthy; `seen` describes the state in the failure message."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            last = f"; last seen: {seen()}" if seen else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{last}")
        time.sleep(interval)


def snapshot(stack: Stack, service: str) -> ContainerState:
    """A copy: the local backend hands out its live state objects, which change later."""
    return copy.copy(stack.containers()[service])


def status(stack: Stack, service: str) -> Status | None:
    state = stack.containers().get(service)
    return state.status if state else None


def recreate(stack: Stack, service: str) -> None:
    """Put a service back as `up` made it: the stack's current configuration, healthy."""
    stack.create(service, stack.resolve_config()[service])
    assert stack.wait_healthy(service, 60), f"{service} did not come back healthy"


@contextmanager
def dotenv_line(stack: Stack, line: str) -> Iterator[None]:
    """Append a line to the operator's `.env` for the duration of the block."""
    path = stack.info.workdir / ".env"
    before = path.read_text() if path.exists() else None
    path.write_text((before or "") + f"\n{line}\n")
    try:
        yield
    finally:
        if before is None:
            path.unlink()
        else:
            path.write_text(before)


def env_in_service(stack: Stack, service: str, name: str) -> str:
    code = f"import os; print(os.environ.get({name!r}, ''))"
    result = stack.exec(service, ["python", "-c", code])
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode().strip()


def mem_limit_enforced(stack: Stack) -> bool:
    return not any("mem_limit not enforced" in note for note in stack.info.notes)


# -- up ----------------------------------------------------------------------------------------


def test_up_starts_every_default_service_healthy_under_production_names(stack: Stack) -> None:
    states = stack.containers()
    assert set(states) == set(stack.compose.startup_order())
    assert "ollama" in states  # the runbook-era deployment gives it no profile
    for service, state in states.items():
        assert state.status == Status.RUNNING, f"{service}: {state.status}"
        assert stack.wait_healthy(service, 10), f"{service} is not healthy"
    assert states["testgen"].name == "testgen-copilot"
    assert states["postgres"].name == "testgen-postgres"
    assert states["redis"].name == "testgen-redis"
    assert states["ollama"].name == "testgen-ollama"
    holds, observed = wait_for("steady state", lambda: (r := steady_state(stack))[0] and r, 20)
    assert holds, observed


def test_production_addresses_land_on_the_stack(stack: Stack) -> None:
    host, port = stack.published(8000)  # production's localhost:8000
    # Loopback, or a remote engine's address as Testcontainers finds it (DOCKER_HOST).
    site = getattr(stack, "site", None)
    assert host == (site.location.host if site is not None else "127.0.0.1")
    assert httpx.get(f"http://{host}:{port}/health", timeout=5).status_code == 200
    assert stack.published(6379) == stack.endpoint("redis", 6379)
    assert stack.published(5432) == stack.endpoint("postgres", 5432)
    assert stack.published(9) is None


# -- what stays down, what comes back ----------------------------------------------------------


def test_kill_through_the_engine_stays_down(stack: Stack) -> None:
    before = snapshot(stack, "redis")
    try:
        stack.kill("redis")
        wait_for("redis to exit", lambda: status(stack, "redis") == Status.EXITED, 10)
        time.sleep(2.0)  # well past the first restart delays a restart policy would use
        after = stack.containers()["redis"]
        assert after.status == Status.EXITED
        assert after.exit_code == 137
        assert after.restart_count == before.restart_count
    finally:
        stack.start("redis")
        assert stack.wait_healthy("redis", 30)


def test_stop_through_the_engine_stays_down_and_start_brings_it_back(stack: Stack) -> None:
    try:
        stack.stop("llm", timeout=5)
        assert status(stack, "llm") == Status.EXITED
        time.sleep(1.0)
        assert status(stack, "llm") == Status.EXITED
    finally:
        stack.start("llm")
    assert stack.wait_healthy("llm", 30)


def test_crash_is_restarted_by_the_restart_policy(stack: Stack) -> None:
    before = snapshot(stack, "testgen")
    assert before.pid is not None and stack.owns_pid(before.pid)
    pid = stack.crash("testgen")
    assert pid == before.pid
    after = wait_for(
        "the restart policy to bring testgen back",
        lambda: (s := stack.containers()["testgen"]).restart_count > before.restart_count
        and s.status == Status.RUNNING and s.pid not in (None, pid) and s, 30,
        seen=lambda: stack.containers()["testgen"])
    assert after.config == before.config
    assert stack.wait_healthy("testgen", 30)
    wait_for("steady state after the crash", lambda: steady_state(stack)[0], 30)


def test_crash_refuses_a_service_that_is_not_running(stack: Stack) -> None:
    from harness.errors import StackError

    stack.stop("llm", timeout=5)
    try:
        with pytest.raises(StackError, match="not running"):
            stack.crash("llm")
    finally:
        stack.start("llm")
        assert stack.wait_healthy("llm", 30)


def test_owns_pid_is_false_for_processes_outside_the_stack(stack: Stack) -> None:
    assert not stack.owns_pid(os.getpid())
    assert not stack.owns_pid(1)


# -- configuration: restart keeps it, create replaces it ---------------------------------------


def test_restart_keeps_the_configuration_it_was_created_with(stack: Stack) -> None:
    created_with = stack.containers()["testgen"].config.env["LOCAL_LLM_ENABLED"]
    with dotenv_line(stack, "LOCAL_LLM_ENABLED=true"):  # passed by the deployment
        assert stack.resolve_config()["testgen"].env["LOCAL_LLM_ENABLED"] == "true"
        stack.restart("testgen")
        assert stack.wait_healthy("testgen", 30)
        state = stack.containers()["testgen"]
        assert state.config.env["LOCAL_LLM_ENABLED"] == created_with
        assert env_in_service(stack, "testgen", "LOCAL_LLM_ENABLED") == created_with


def test_create_with_a_changed_configuration_recreates_the_container(stack: Stack) -> None:
    old = snapshot(stack, "testgen")
    try:
        with dotenv_line(stack, "LOCAL_LLM_ENABLED=true"):
            changed = stack.resolve_config()["testgen"]
            assert changed.fingerprint() != old.config.fingerprint()
            stack.create("testgen", changed)
            assert stack.wait_healthy("testgen", 30)
            new = stack.containers()["testgen"]
            assert new.name == old.name == "testgen-copilot"
            assert new.created_at > old.created_at
            assert new.restart_count == 0
            assert new.config.env["LOCAL_LLM_ENABLED"] == "true"
            assert env_in_service(stack, "testgen", "LOCAL_LLM_ENABLED") == "true"
    finally:
        recreate(stack, "testgen")


def test_remove_takes_the_container_away(stack: Stack) -> None:
    try:
        stack.remove("llm")
        assert "llm" not in stack.containers()
    finally:
        recreate(stack, "llm")


# -- volumes -----------------------------------------------------------------------------------


def _postgres(stack: Stack) -> psycopg.Connection[tuple[object, ...]]:
    host, port = stack.endpoint("postgres", 5432)
    env = stack.containers()["postgres"].config.env
    return psycopg.connect(host=host, port=port, user=env["POSTGRES_USER"],
                           password=env["POSTGRES_PASSWORD"], dbname=env["POSTGRES_DB"],
                           connect_timeout=5, autocommit=True)


def _marker_exists(stack: Stack) -> bool:
    with _postgres(stack) as conn:
        row = conn.execute("SELECT to_regclass('gameday_marker') IS NOT NULL").fetchone()
        return bool(row and row[0])


def test_remove_volumes_deletes_the_database_data_and_only_then(stack: Stack) -> None:
    with _postgres(stack) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS gameday_marker (x int)")
    try:
        # `down` without -v: a new container finds the data where it was.
        stack.remove("postgres")
        recreate(stack, "postgres")
        assert _marker_exists(stack)
        # `down -v`: every container goes, then the named volumes, and the data with them.
        for service in list(stack.containers()):
            stack.remove(service)
        before = time.time()
        removed = stack.remove_volumes()
        assert f"{stack.compose.project}_postgres-data" in removed
        # The record the runner names a data-destroying step from (`down -v` at line N).
        when, names = stack.volume_removals[-1]
        assert names == removed and when >= before
        recreate(stack, "postgres")
        assert not _marker_exists(stack)
    finally:
        for service in stack.compose.startup_order():
            if status(stack, service) != Status.RUNNING:
                recreate(stack, service)
        recreate(stack, "testgen")  # its schema lived in the old volume
        wait_for("steady state on the new volume", lambda: steady_state(stack)[0], 30)


# -- observation: logs, stats, exec ------------------------------------------------------------


def test_logs_are_the_service_output_with_timestamps(stack: Stack) -> None:
    state = stack.containers()["testgen"]
    # "testgen starting pid=…", with "testgen" scrubbed: it is also the database password.
    # The log is read from the service's output beside it, so a line may trail the start.
    def started() -> list[tuple[float, str]]:
        lines = stack.logs("testgen")
        return lines if any(" starting pid=" in line for _, line in lines) else []

    lines = wait_for("the API's first log line", started, 20, seen=lambda: stack.logs("testgen"))
    now = time.time()
    for stamp, _ in lines:
        assert state.created_at - 5 <= stamp <= now + 5


def test_stats_sample_memory_and_no_limit_the_deployment_does_not_set(stack: Stack) -> None:
    usage = stack.stats("testgen")
    assert stack.containers()["testgen"].config.mem_limit_bytes is None  # the deployment's
    assert usage.memory_bytes > 1 * MiB
    assert usage.pids >= 1
    assert usage.cpu_percent >= 0.0


def test_stats_sample_memory_against_a_limit_a_scenario_sets(stack: Stack) -> None:
    if not mem_limit_enforced(stack):
        pytest.skip(f"{stack.backend_name}: mem_limit not enforced here: {stack.info.notes}")
    env = {**getattr(stack, "shell_env", {}), "TESTGEN_MEM_LIMIT": "256m"}
    stack.create("testgen", stack.resolve_config(env)["testgen"])
    try:
        assert stack.wait_healthy("testgen", 30)
        usage = stack.stats("testgen")
        assert stack.containers()["testgen"].config.mem_limit_bytes == 256 * MiB
        assert usage.memory_limit_bytes == 256 * MiB
        assert 1 * MiB < usage.memory_bytes < 256 * MiB
    finally:
        recreate(stack, "testgen")


# -- the deployment's features, on every backend --------------------------------------------


def test_redis_runs_with_the_deployments_password_and_persistence(stack: Stack) -> None:
    import redis

    if stack.backend_name == "fake":
        pytest.skip("the fake backend plays Redis without authentication or persistence")
    config = stack.containers()["redis"].config
    assert config.requirepass == "testgen123"  # ${REDIS_PASSWORD:-testgen123}
    host, port = stack.endpoint("redis", 6379)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=host, port=port, socket_timeout=5).ping()
    client = redis.Redis(host=host, port=port, password=config.requirepass, socket_timeout=5)
    try:
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        client.close()


def test_postgres_takes_the_deployments_credentials(stack: Stack) -> None:
    from harness.observe.probes import postgres_login

    if stack.backend_name == "fake":
        pytest.skip("the fake backend's PostgreSQL answers only the harness's own statements")
    login = postgres_login(stack)
    assert (login["user"], login["password"], login["dbname"]) == (
        "testgen", "testgen123", "testgen")
    host, port = stack.endpoint("postgres", 5432)
    with psycopg.connect(host=host, port=port, connect_timeout=5, **login) as conn:
        assert conn.execute("select current_user").fetchone() == ("testgen",)


def test_restart_policies_are_the_deployments(stack: Stack) -> None:
    states = stack.containers()
    for service in ("testgen", "redis", "postgres", "ollama"):
        assert states[service].config.restart == "unless-stopped", service


def test_exec_resolves_service_names_as_inside_the_stack(stack: Stack) -> None:
    direct = stack.exec("testgen", ["pg_isready", "-h", "postgres", "-p", "5432"])
    assert direct.exit_code == 0, direct.stdout + direct.stderr
    assert b"accepting connections" in direct.stdout
    proxied = stack.exec("testgen", ["pg_isready", "-h", "toxiproxy", "-p", "15432"])
    assert proxied.exit_code == 0, proxied.stdout + proxied.stderr


def test_a_step_naming_a_stopped_service_fails_within_two_seconds(stack: Stack) -> None:
    """Product semantic, not a benchmark: in production the real DNS answers "no such name"
    for a stopped compose service at once, so `docker exec testgen-copilot pg_isready -h
    postgres` fails at once, and a runbook's detection poll sees the outage within its
    interval. A lookup that waits out a resolver timeout (10 s behind the egress block)
    would put seconds of the harness's own making into every database-down TTD. Names
    outside the stack still resolve to nothing (no egress)."""
    stack.kill("postgres")
    try:
        wait_for("postgres to exit", lambda: status(stack, "postgres") == Status.EXITED, 10)
        started = time.monotonic()
        result = stack.exec("testgen", ["pg_isready", "-h", "postgres", "-p", "5432"])
        took = time.monotonic() - started
        assert result.exit_code != 0, result.stdout
        assert took < 2.0, f"pg_isready -h postgres took {took:.1f}s with postgres stopped"
        outside = stack.exec("testgen", ["python", "-c",
                                         "import socket; socket.gethostbyname('example.com')"])
        assert outside.exit_code != 0, "a name beyond the machine resolved"
    finally:
        stack.start("postgres")
        assert stack.wait_healthy("postgres", 60)
    wait_for("steady state with postgres back", lambda: steady_state(stack)[0], 30)


def test_exec_gives_the_command_status_and_output(stack: Stack) -> None:
    result = stack.exec("testgen", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    missing = stack.exec("testgen", ["no-such-command-here"])
    assert missing.exit_code in (126, 127)
    assert b"executable file not found" in missing.stderr


def test_exec_in_a_stopped_container_fails_as_docker_does(stack: Stack) -> None:
    stack.stop("llm", timeout=5)
    try:
        result = stack.exec("llm", ["true"])
        assert result.exit_code != 0
        assert b"is not running" in result.stderr
    finally:
        stack.start("llm")
        assert stack.wait_healthy("llm", 30)


def test_exec_past_its_timeout_is_killed(stack: Stack) -> None:
    started = time.monotonic()
    result = stack.exec("testgen", ["sleep", "30"], timeout=1.0)
    assert result.exit_code == 124
    assert time.monotonic() - started < 10


# -- memory: a real limit, a real OOM kill -----------------------------------------------------


def _hog_config(stack: Stack, restart: str) -> ServiceConfig:
    """testgen with its memory-assault hook on, under a 128 MiB limit."""
    env = {**getattr(stack, "shell_env", {}), "TESTGEN_CHAOS_HOOKS": "1",
           "TESTGEN_MEM_LIMIT": "128m"}
    return dataclasses.replace(stack.resolve_config(env)["testgen"], restart=restart)


def _allocate_past_the_limit(stack: Stack) -> None:
    host, port = stack.published(8000)
    r = httpx.post(f"http://{host}:{port}/_chaos/memory",
                   json={"mb": 1024, "step_mb": 16, "interval_ms": 10}, timeout=5)
    assert r.status_code < 300, r.text


def test_oom_kill_is_visible_as_oomkilled(stack: Stack) -> None:
    if not mem_limit_enforced(stack):
        pytest.skip(f"{stack.backend_name}: mem_limit not enforced here: {stack.info.notes}")
    # restart: no, so the record of the kill is not overwritten by a restart (Docker clears
    # OOMKilled when it starts the container again).
    stack.create("testgen", _hog_config(stack, "no"))
    try:
        assert stack.wait_healthy("testgen", 30)
        assert stack.containers()["testgen"].config.mem_limit_bytes == 128 * MiB
        _allocate_past_the_limit(stack)
        state = wait_for(
            "the kernel to OOM-kill testgen",
            lambda: (s := stack.containers()["testgen"]).status == Status.EXITED and s, 60)
        assert state.oom_killed, state
        assert state.exit_code == 137
    finally:
        recreate(stack, "testgen")


def test_oom_killed_service_is_restarted_by_its_policy(stack: Stack) -> None:
    if not mem_limit_enforced(stack):
        pytest.skip(f"{stack.backend_name}: mem_limit not enforced here: {stack.info.notes}")
    stack.create("testgen", _hog_config(stack, "unless-stopped"))
    try:
        assert stack.wait_healthy("testgen", 30)
        _allocate_past_the_limit(stack)
        wait_for("the restart policy to restart the OOM-killed testgen",
                 lambda: stack.containers()["testgen"].restart_count >= 1, 60)
        assert stack.wait_healthy("testgen", 30)
    finally:
        recreate(stack, "testgen")


# -- nothing outlives a stack ------------------------------------------------------------------


def _service_pids(stack: Stack) -> list[int]:
    return [s.pid for s in stack.containers().values() if s.pid]


def test_close_leaves_no_process_behind(backend: str) -> None:
    stack = new_stack(backend)
    try:
        stack.create("redis", stack.resolve_config()["redis"])
        assert stack.wait_healthy("redis", 30)
        pids = _service_pids(stack)
        assert pids
    finally:
        stack.close()
    wait_for("the stack's processes to end", lambda: not any(_alive(p) for p in pids), 10)
    if backend == "docker":
        assert _docker_leftovers(stack) == []


def test_two_stacks_run_side_by_side_under_production_names(backend: str) -> None:
    first, second = new_stack(backend), new_stack(backend)
    try:
        for stack in (first, second):
            stack.create("redis", stack.resolve_config()["redis"])
        for stack in (first, second):
            assert stack.wait_healthy("redis", 30)
            assert stack.containers()["redis"].name == "testgen-redis"
        assert first.endpoint("redis", 6379) != second.endpoint("redis", 6379)
        first.kill("redis")
        assert status(second, "redis") == Status.RUNNING  # faults stay inside their stack
    finally:
        first.close()
        second.close()


_KILLED_HARNESS = textwrap.dedent("""
    import sys, time
    from harness.backends import make_stack
    from harness.compose import ComposeFile
    stack = make_stack(sys.argv[1], ComposeFile(sys.argv[2]), {})
    stack.create("redis", stack.resolve_config()["redis"])
    assert stack.wait_healthy("redis", 60)
    print(getattr(stack, "id", ""), *[s.pid for s in stack.containers().values()], flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_killed_harness_process_leaves_nothing_behind(backend: str, sig: signal.Signals) -> None:
    require_backend(backend)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_HARNESS, backend,
                             str(ROOT / "docker-compose.chaos.yml")],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        stack_id, *pid_text = proc.stdout.readline().split()
        pids = [int(p) for p in pid_text]
        assert pids, "the harness process reported no service process"
        proc.send_signal(sig)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for("the stack's processes to end", lambda: not any(_alive(p) for p in pids), 20)
    if backend == "docker":
        wait_for("the stack's containers, network and volumes to go",
                 lambda: not _docker_leftovers_of(stack_id), 20)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _docker_leftovers(stack: Stack) -> list[str]:
    return _docker_leftovers_of(str(getattr(stack, "id", "")))


def _docker_leftovers_of(stack_id: str) -> list[str]:
    import docker

    from harness.backends.docker.labels import stack_filter

    client = docker.from_env()
    try:
        flt = stack_filter(stack_id)
        return ([f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
                + [f"network {n.name}" for n in client.networks.list(filters=flt)]
                + [f"volume {v.name}" for v in client.volumes.list(filters=flt)])
    finally:
        client.close()


def test_docker_exec_of_a_tool_the_deployments_image_lacks_fails_as_docker_does(
    stack: Stack,
) -> None:
    """The bridge answers for both backends from the same model: the app image of the
    deployment installs git and curl only, whatever process stands in for it."""
    from harness.bridge.protocol import Completed, Invocation
    from harness.bridge.tools import docker_cli

    inv = Invocation(["docker", "exec", "testgen-copilot", "pg_isready", "-h", "postgres"],
                     str(stack.info.workdir), {})
    answer = docker_cli.run(stack, inv)
    assert isinstance(answer, Completed)
    assert (answer.rc, answer.stdout) == (127, "")
    assert answer.stderr == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "pg_isready": executable file not found in $PATH: unknown\n')
    curl = docker_cli.run(stack, Invocation(
        ["docker", "exec", "testgen-copilot", "curl", "--version"], str(stack.info.workdir), {}))
    assert isinstance(curl, Completed) and curl.rc == 0
