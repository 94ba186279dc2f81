"""The operator's shell: runs a runbook step in bash, exactly as written.

Real bash, real pipes, real `grep`/`tail`; `docker`, `docker-compose`, `curl`, `redis-cli`,
`psql`, `pg_isready` are the bridge's shims on PATH. `export` persists from step to step
in this shell only (a running service never sees it). Production host paths the runbook
reads (`/var/log/testgen/...`) are mapped onto the stack's own directories.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Stack
from harness.bridge.registry import bridged_tools
from harness.bridge.server import BridgeServer
from harness.bridge.terminal import Terminal, TerminalGone, parses
from harness.redact import Redactor
from harness.runbook.model import Step
from harness.shell.manual import manual_reason

EXCERPT_CHARS = 4000
_SHELL_INTERNAL = {"PWD", "OLDPWD", "SHLVL", "_"}



# A bash builtin or form that can change what the operator's shell keeps for the next
# step: its environment and its working directory (shell.py absorbs nothing else).
_COMMAND_POSITION = r"(?:^|[;&|({`]|\$\(|\b(?:then|do|else|if|while|until|!)\s)\s*"
_SHELL_STATE = re.compile(
    _COMMAND_POSITION + r"(?:(?:export|unset|cd|pushd|popd|source|declare|typeset|readonly|"
    r"eval|set|exec|read|mapfile|readarray|\.)(?=$|[\s;&|)`}])|[A-Za-z_][A-Za-z0-9_]*\+?=)",
    re.MULTILINE,
)


def may_change_shell(command: str) -> bool:
    """Whether running `command` may change the operator's environment or directory (an
    `export`, a `cd`, a `source`, an assignment, ...). Conservative: a false "yes" only
    costs running it alone."""
    return bool(_SHELL_STATE.search(command))


@dataclass
class Outcome:
    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    manual_reason: str | None = None


class OperatorShell:
    """One operator at one terminal, for one gameday."""

    def __init__(
        self,
        stack: Stack,
        bridge: BridgeServer,
        redactor: Redactor,
        operator_env: dict[str, str],
        step_timeout: float = 30.0,
    ) -> None:
        self.stack, self.bridge, self.redact = stack, bridge, redactor
        # The deployment's own secrets (a Redis password from an interpolation default, a
        # database password in a URL) are masked too, not only the operator's variables.
        redactor.add(*stack.secrets())
        self.step_timeout = step_timeout
        self.workdir = stack.info.workdir
        self.cwd = str(self.workdir)
        base_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        self.env: dict[str, str] = {
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "USER": "oncall",
            **operator_env,
            "PATH": f"{bridge.operator_bin}{os.pathsep}{base_path}",
            "GAMEDAY_BRIDGE": bridge.socket_path,
        }
        self._envfile = Path(bridge.socket_path).parent / "operator.env"

    def map_host_paths(self, command: str) -> str:
        for prod in self.stack.compose.host_paths:
            pattern = rf"(?<![\w/.]){re.escape(prod.rstrip('/'))}(?=/|\s|$|\*)"
            if not re.search(pattern, command):
                continue  # host_path may copy files back from a remote engine: only if used
            target = self.stack.host_path(prod)
            if target is not None:
                command = re.sub(pattern, str(target), command)
        return command

    def run(self, step: Step, timeout: float | None = None, isolated: bool = False) -> Outcome:
        reason = manual_reason(step.command, step.comment, bridged_tools())
        if reason is not None:
            return Outcome(None, "", "", 0.0, manual_reason=reason)
        return self.run_command(step.command, timeout, isolated)

    def script(self, command: str, isolated: bool = False) -> str:
        """The bash script one run of `command` is (an isolated run keeps no env file)."""
        # An isolated run never writes the shared env file (concurrent polls would race on it).
        save_env = "" if isolated else f"env -0 > {_quote(str(self._envfile))}\n"
        return (
            f"cd {_quote(self.cwd)} 2>/dev/null\n"
            f"{self.map_host_paths(command)}\n"
            "__gameday_rc=$?\n"
            f"{save_env}"
            "exit $__gameday_rc\n"
        )

    def run_command(
        self, command: str, timeout: float | None = None, isolated: bool = False
    ) -> Outcome:
        """Run one command. `isolated`: in a copy of the shell as it is now (another terminal
        of the same operator): what it exports is not kept, so concurrent runs can't race."""
        script = self.script(command, isolated)
        started = time.monotonic()
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", script],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout or self.step_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        duration = time.monotonic() - started
        if not timed_out and not isolated:
            self._absorb_env()
        rc = 124 if timed_out else proc.returncode
        return Outcome(rc, self._excerpt(out), self._excerpt(err), duration, timed_out)

    def terminal(self) -> PollingTerminal:
        """A terminal of this operator for one polling thread (close it when done)."""
        return PollingTerminal(self)

    def _absorb_env(self) -> None:
        """What the step exported stays in this operator's shell for the next steps."""
        try:
            raw = self._envfile.read_bytes()
        except FileNotFoundError:
            return
        env = {}
        for item in raw.split(b"\0"):
            key, sep, value = item.decode(errors="replace").partition("=")
            if sep and key not in _SHELL_INTERNAL:
                env[key] = value
        if "PWD" in (
            pwd := dict(
                i.decode(errors="replace").partition("=")[::2] for i in raw.split(b"\0") if i
            )
        ):
            self.cwd = pwd["PWD"]
        self.env = env
        self.redact.add_env(env)
        self._envfile.unlink()

    def _excerpt(self, data: bytes) -> str:
        text = self.redact(data.decode("utf-8", errors="replace"))
        if len(text) > EXCERPT_CHARS:
            text = text[: EXCERPT_CHARS // 2] + "\n[… truncated …]\n" + text[-EXCERPT_CHARS // 2 :]
        return text


class PollingTerminal:
    """`OperatorShell.run(step, isolated=True)`, run after run, in one long-lived bash that
    forks a subshell per run (harness.bridge.terminal): the same script, environment,
    directory, timeout and outcome, without a bash start per run. A script bash cannot
    parse, a terminal that cannot start the run, or GAMEDAY_POLL_TERMINAL=0 runs the
    classic way."""

    def __init__(self, shell: OperatorShell) -> None:
        self.shell = shell
        self._term: Terminal | None = None
        self._wanted = os.environ.get("GAMEDAY_POLL_TERMINAL", "1").strip() != "0"

    def __enter__(self) -> PollingTerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, step: Step, timeout: float | None = None) -> Outcome:
        shell = self.shell
        reason = manual_reason(step.command, step.comment, bridged_tools())
        if reason is not None:
            return Outcome(None, "", "", 0.0, manual_reason=reason)
        script = shell.script(step.command, isolated=True)
        if not self._wanted or not parses(script):
            return shell.run_command(step.command, timeout, isolated=True)
        started = time.monotonic()
        try:
            rc, out, err, timed_out = self._terminal().run(script, timeout or shell.step_timeout)
        except TerminalGone:  # the run never started: the classic way, once
            self.close()
            return shell.run_command(step.command, timeout, isolated=True)
        duration = time.monotonic() - started
        return Outcome(rc, shell._excerpt(out), shell._excerpt(err), duration, timed_out)

    def _terminal(self) -> Terminal:
        term = self._term
        now = (self.shell.env, self.shell.cwd)  # a copy of the operator's shell as it is now
        if term is None or not term.alive() or (term.env, term.cwd) != now:
            self.close()
            term = self._term = Terminal(self.shell.env, self.shell.cwd)
        return term

    def close(self) -> None:
        if self._term is not None:
            self._term.close()
            self._term = None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
