"""The local stack's preloading parent: a forked service is still a process of its own.

The zygote is driven directly with a tiny service package in a temp dir (importable because
the zygote runs from that dir, as `python -m` would), and through a LocalStack, where the
API service must come from a fork and still see the environment of its latest creation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.backends.local.zygote import Zygote

from .support import new_stack

SERVICE = '''
import json, os, sys, time
print(json.dumps({"pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
                  "argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}),
      flush=True)
if sys.argv[1:2] == ["sleep"]:
    time.sleep(60)
raise SystemExit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
'''

BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1"}  # fmt: skip


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    package = tmp_path / "zyg_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(SERVICE)
    z = Zygote(["zyg_service"], BASE_ENV, tmp_path)
    try:
        assert z.ready(30), z.failure
        yield z
    finally:
        z.close()


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "zyg_service", *args]


def _first_line(proc: object) -> dict[str, object]:
    line = proc.stdout.readline()  # type: ignore[attr-defined]
    assert line, "the forked service printed nothing"
    return dict(json.loads(line))


def test_a_forked_service_is_its_own_process_with_the_environment_it_was_given(
    zygote: Zygote, tmp_path: Path
) -> None:
    env = {**BASE_ENV, "LLM_RATE_LIMIT": "7", "PRIMARY_LLM_PROVIDER": "anthropic"}
    proc = zygote.fork(_argv("3"), env, tmp_path, None)
    assert proc is not None
    seen = _first_line(proc)
    assert seen["pid"] == proc.pid != zygote.proc.pid
    assert seen["pgid"] == seen["sid"] == proc.pid  # own session and group: killpg reaches it
    assert seen["argv"] == ["3"]
    assert seen["cwd"] == str(tmp_path)
    assert seen["env"] == env  # exactly this start's environment, nothing of the zygote's
    assert proc.wait(10) == 3


def test_each_fork_sees_the_environment_of_its_own_start(zygote: Zygote, tmp_path: Path) -> None:
    first = zygote.fork(_argv(), {**BASE_ENV, "LLM_RATE_LIMIT": "5"}, tmp_path, None)
    second = zygote.fork(_argv(), {**BASE_ENV, "LLM_RATE_LIMIT": "1"}, tmp_path, None)
    assert first is not None and second is not None
    assert _first_line(first)["env"]["LLM_RATE_LIMIT"] == "5"  # type: ignore[index]
    assert _first_line(second)["env"]["LLM_RATE_LIMIT"] == "1"  # type: ignore[index]
    assert first.wait(10) == second.wait(10) == 0


def test_signals_reach_the_forked_service_and_its_status_says_so(
    zygote: Zygote, tmp_path: Path
) -> None:
    proc = zygote.fork(_argv("sleep"), BASE_ENV, tmp_path, None)
    assert proc is not None
    _first_line(proc)
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL  # as Popen reports it: the stack records exit 137


def test_the_process_title_names_the_service(zygote: Zygote, tmp_path: Path) -> None:
    proc = zygote.fork(_argv("sleep"), BASE_ENV, tmp_path, None)
    assert proc is not None
    try:
        _first_line(proc)
        cmdline = " ".join(psutil.Process(proc.pid).cmdline())
        assert cmdline == f"{sys.executable} -m zyg_service sleep"
        found = subprocess.run(["pgrep", "-f", "zyg_service sleep"], capture_output=True,
                               text=True).stdout.split()  # fmt: skip
        assert str(proc.pid) in found
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_commands_the_zygote_cannot_run_as_their_interpreter_would_are_not_forked(
    zygote: Zygote, tmp_path: Path
) -> None:
    assert zygote.fork(["/bin/true"], BASE_ENV, tmp_path, None) is None
    assert zygote.fork([sys.executable, "-m", "json.tool"], BASE_ENV, tmp_path, None) is None
    other_path = {**BASE_ENV, "PYTHONPATH": "/elsewhere"}  # another interpreter setup
    assert zygote.fork(_argv(), other_path, tmp_path, None) is None


def test_a_dead_zygote_means_exec_not_a_hang(zygote: Zygote, tmp_path: Path) -> None:
    zygote.proc.kill()
    zygote.proc.wait(10)
    t0 = time.monotonic()
    assert zygote.fork(_argv(), BASE_ENV, tmp_path, None) is None
    assert time.monotonic() - t0 < 5


def test_the_local_stack_forks_its_python_services_and_a_recreate_sees_the_new_environment(
) -> None:
    stack = new_stack("local")
    try:
        stack.up()
        zygote = stack._zygote  # type: ignore[attr-defined]
        assert zygote is not None and zygote.ready()
        before = stack.containers()["testgen"]
        assert psutil.Process(before.pid).ppid() == zygote.proc.pid
        assert psutil.Process(stack.containers()["llm"].pid).ppid() == zygote.proc.pid
        config = stack.resolve_config()["testgen"]  # as a step's `docker run -e` would add it
        config = dataclasses.replace(
            config, environment=(*config.environment, ("LLM_RATE_LIMIT", "7")))
        stack.create("testgen", config)
        assert stack.wait_healthy("testgen", 30)
        after = stack.containers()["testgen"]
        assert after.pid != before.pid
        assert psutil.Process(after.pid).ppid() == zygote.proc.pid
        # The log is read from the service's pipe beside it: the line may trail its health.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            started = [ln for _, ln in stack.logs("testgen") if "ready to serve" in ln]
            if started and "rate_limit=7" in started[-1]:
                break
            time.sleep(0.05)
        assert started and "rate_limit=7" in started[-1], started
    finally:
        stack.close()


def test_wait_in_one_thread_while_another_polls_never_fails(zygote: Zygote, tmp_path: Path) -> None:
    """The stack's supervisor polls a service while a runbook step (`restart`) waits for it:
    whichever sees the exit first closes the exit-notice descriptors, and the other must
    still get the status, never `Bad file descriptor` (CI at 0acf5fc, a bridge error 125)."""
    import threading

    for _ in range(30):
        proc = zygote.fork(_argv("0"), BASE_ENV, tmp_path, None)
        assert proc is not None
        stop = threading.Event()

        def poller(p: object = proc, stop: threading.Event = stop) -> None:
            while not stop.is_set() and p.poll() is None:  # type: ignore[attr-defined]
                pass

        thread = threading.Thread(target=poller)
        thread.start()
        try:
            assert proc.wait(10) == 0
        finally:
            stop.set()
            thread.join()
