"""A polled step gives the same outcome in the long-lived terminal (one bash forking a
subshell per run) as in a bash of its own: exit status, stdout, stderr, environment, signal
dispositions, timeout and the kill of the run's process group. One real local stack.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil
import pytest

from harness.bridge.shell import OperatorShell, PollingTerminal
from harness.bridge.terminal import parses
from harness.runbook.model import Role, Step

ROOT = Path(__file__).resolve().parents[2]

SAME = [
    "echo out; echo err >&2; exit 3",
    "false",
    "no-such-tool --flag",
    'echo "line $LINENO"\nno-such-tool\necho "line $LINENO" >&2',
    'echo $0 $- $SHLVL; pwd; umask; cat; echo "stdin rc $?"',
    "env | grep -v '^_=' | sort",
    "grep -E '^Sig(Ign|Blk)' /proc/self/status",  # what the step's tools inherit
    "ls /proc/$BASHPID/fd | sort",
    "kill -9 $BASHPID",
    "kill -TERM $BASHPID",
    "sleep 0.2 & kill -9 $!; wait $!",
    "exit 137",
    "seq 1 50000",
    "printf 'no newline'",
    "curl -s -o /dev/null -w '%{http_code}' http://localhost:8000/health",
    "curl -sf http://localhost:8000/v1/jobs/nope",
    "docker ps | grep -c testgen",  # (its status column counts the seconds up)
    "docker logs testgen-copilot --tail 3 | wc -l",
    "redis-cli -a testgen123 --no-auth-warning ping",
    "if then",  # bash cannot parse it: the classic way, the same syntax error
]


def _step(command: str, line: int = 1) -> Step:
    return Step(section="test", comment="test", command=command, line=line, role=Role.DETECTION)


@pytest.fixture(scope="module")
def shell(module_operator) -> OperatorShell:
    return module_operator.shell


@pytest.mark.parametrize("command", SAME)
def test_a_run_in_the_terminal_is_a_run_in_a_bash_of_its_own(shell, command):
    classic = shell.run_command(command, 10, isolated=True)
    with shell.terminal() as terminal:
        first = terminal.run(_step(command))
        again = terminal.run(_step(command))  # the same terminal, the next run
    for seen in (first, again):
        assert (seen.exit_code, seen.stdout, _pids(seen.stderr), seen.timed_out) == (
            classic.exit_code,
            classic.stdout,
            _pids(classic.stderr),
            classic.timed_out,
        )


def _pids(text: str) -> str:
    """bash names a job killed by its pid ("line 2: 22868 Killed"): a number of this run only."""
    return re.sub(r"(line \d+: )\s*\d+ ", r"\1PID ", text)  # bash pads the pid to 5 places


def test_syntax_errors_are_not_run_in_the_terminal(shell):
    assert parses(shell.script("docker ps | grep testgen", isolated=True))
    assert not parses(shell.script("if then", isolated=True))


def test_what_a_run_exports_is_gone_at_the_next_run(shell):
    with shell.terminal() as terminal:
        terminal.run(_step("export GAMEDAY_SEEN=1; cd /"))
        seen = terminal.run(_step('echo "${GAMEDAY_SEEN:-unset} $(pwd)"'))
    assert seen.stdout == f"unset {shell.cwd}\n"


def test_the_terminal_follows_the_operators_shell(shell):
    with shell.terminal() as terminal:
        before = terminal.run(_step('echo "${GAMEDAY_OPERATOR_SET:-unset}"'))
        shell.run_command("export GAMEDAY_OPERATOR_SET=yes")  # a step of the operator's own
        after = terminal.run(_step('echo "${GAMEDAY_OPERATOR_SET:-unset}"'))
    shell.run_command("unset GAMEDAY_OPERATOR_SET")
    assert (before.stdout, after.stdout) == ("unset\n", "yes\n")


def test_a_timeout_kills_the_runs_whole_process_group(shell):
    marker = f"gameday-terminal-{time.monotonic_ns()}"
    command = f"bash -c 'exec -a {marker} sleep 30' & sleep 30; echo never"
    with shell.terminal() as terminal:
        started = time.monotonic()
        seen = terminal.run(_step(command), timeout=0.5)
        took = time.monotonic() - started
        after = terminal.run(_step("echo next"))  # the terminal lives on
    assert (seen.exit_code, seen.timed_out, seen.stdout) == (124, True, "")
    assert took < 5
    assert after.exit_code == 0 and after.stdout == "next\n"
    left = [
        p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []


def test_a_terminal_killed_by_its_step_reads_as_a_bash_killed(shell):
    classic = shell.run_command("kill -TERM $$", 10, isolated=True)
    with shell.terminal() as terminal:
        seen = terminal.run(_step("kill -TERM $$"))
        after = terminal.run(_step("echo next"))  # a new terminal
    assert seen.exit_code == classic.exit_code == -15
    assert after.stdout == "next\n"


def test_nothing_is_left_when_the_terminal_closes(shell):
    terminal = PollingTerminal(shell)
    terminal.run(_step("true"))
    assert terminal._term is not None
    pid = terminal._term._proc.pid
    terminal.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
