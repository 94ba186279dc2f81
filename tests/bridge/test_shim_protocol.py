"""Both shims the bridge can install give the operator's shell the same exit status, bytes
on stdout and stderr, and exec of the real tool: shim.c (line protocol, ~1 ms a call)
where a C compiler is present, shim.py (JSON, a Python start) otherwise.

One real local stack; one bridge per shim on it, each with its own operator shell.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.local import LocalStack
from harness.bridge import lean_shim
from harness.bridge.server import BridgeServer
from harness.bridge.shell import OperatorShell
from harness.compose import ComposeFile
from harness.redact import Redactor
from harness.run.gameday import operator_environment

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("lean", "python")

needs_cc = pytest.mark.skipif(
    lean_shim.executable() is None, reason="no C compiler: only shim.py can be installed"
)


def _bridge(stack: LocalStack, kind: str) -> BridgeServer:
    previous = os.environ.get("GAMEDAY_SHIM")
    os.environ["GAMEDAY_SHIM"] = kind
    try:
        return BridgeServer(stack, stack.dir / "run" / f"bridge-{kind}")
    finally:
        if previous is None:
            del os.environ["GAMEDAY_SHIM"]
        else:
            os.environ["GAMEDAY_SHIM"] = previous


@pytest.fixture(scope="module")
def shells() -> Iterator[dict[str, OperatorShell]]:
    env = operator_environment()
    stack = LocalStack(
        ComposeFile(ROOT / "docker-compose.chaos.yml"),
        shell_env=env,
        env_example=ROOT / ".env.example",
    )
    bridges: list[BridgeServer] = []
    try:
        stack.up()
        out = {}
        for kind in KINDS:
            bridge = _bridge(stack, kind)
            bridges.append(bridge)
            redactor = Redactor()
            redactor.add_env(env)
            out[kind] = OperatorShell(stack, bridge, redactor, env)
        yield out
    finally:
        for bridge in bridges:
            bridge.close()
        stack.close()


@needs_cc
def test_the_lean_shim_is_installed_where_a_c_compiler_is(shells):
    bridge = shells["lean"].bridge
    assert bridge.shim_kind == "lean"
    for tool in ("docker", "docker-compose", "curl"):
        assert (bridge.operator_bin / tool).read_bytes()[:4] == b"\x7fELF"
    assert (bridge.container_bin / "pg_isready").read_bytes()[:4] == b"\x7fELF"


def test_gameday_shim_python_installs_the_python_shim(shells):
    bridge = shells["python"].bridge
    assert bridge.shim_kind == "python"
    assert (bridge.operator_bin / "docker").read_text().startswith("#!")


@pytest.mark.parametrize(
    ("command", "rc", "stdout", "stderr"),
    [
        (
            "docker inspect -f '{{.Name}} {{.State.Running}}' testgen-copilot",
            0,
            "/testgen-copilot true\n",
            "",
        ),
        ("docker logs no-such", 1, "", "Error response from daemon: No such container: no-such\n"),
        ("docker-compose frobnicate", 1, "", 'unknown docker command: "compose frobnicate"\n'),
        ("docker ps >/dev/null; echo $?", 0, "0\n", ""),
        ("docker logs no-such 2>&1 | grep -c 'No such'", 0, "1\n", ""),
        # exec of the real tool, with the stack's address and curl's own exit statuses
        ("curl -s -o /dev/null -w '%{http_code}' http://localhost:8000/health", 0, "200", ""),
        ("curl -s -f http://localhost:8000/v1/jobs/nope", 22, "", ""),
        ("redis-cli -a testgen123 --no-auth-warning ping", 0, "PONG\n", ""),
        ("redis-cli ping", 0, "NOAUTH Authentication required.\n\n", ""),  # exits 0 all the same
        ("docker exec testgen-postgres pg_isready -q", 0, "", ""),  # runs as nobody
    ],
)
def test_both_shims_give_the_same_status_and_output(shells, command, rc, stdout, stderr):
    outcomes = {kind: shells[kind].run_command(command, 20) for kind in KINDS}
    for kind, out in outcomes.items():
        assert (out.exit_code, out.stdout, out.stderr) == (rc, stdout, stderr), kind


@needs_cc
def test_arguments_cross_the_line_protocol_byte_for_byte(shells):
    shell = shells["lean"]
    # spaces, tabs, newlines, quotes, an empty argument and a non-UTF-8 byte in one argv
    out = shell.run_command("docker inspect -f $'a  b\\n\\t\"c\" {{.Name}}' testgen-copilot")
    assert (out.exit_code, out.stdout) == (0, 'a  b\n\t"c" /testgen-copilot\n')
    out = shell.run_command("docker logs ''")
    assert (out.exit_code, out.stderr) == (1, "Error response from daemon: No such container: \n")
    out = shell.run_command("docker logs $'caf\\xff' 2>&1 | od -An -tx1 | tr -d ' \\n'")
    assert out.stdout.endswith("3a20636166ff0a")  # ": caf\\xff\\n", the byte as it was sent


@pytest.mark.parametrize("kind", KINDS)
def test_the_operators_environment_and_working_directory_reach_the_bridge(shells, kind):
    shell = shells[kind]
    seen = []
    answer = shell.bridge.answer

    def record(inv):  # type: ignore[no-untyped-def]
        seen.append(inv)
        return answer(inv)

    shell.bridge.answer = record  # type: ignore[method-assign]
    try:
        out = shell.run_command("mkdir -p elsewhere && cd elsewhere && GAMEDAY_T='a b=c' docker ps")
    finally:
        del shell.bridge.answer
    assert out.exit_code == 0
    assert seen[-1].cwd == str(Path(shell.stack.info.workdir) / "elsewhere")
    assert seen[-1].env["GAMEDAY_T"] == "a b=c"
    assert seen[-1].argv == ["docker", "ps"]


@needs_cc
def test_large_output_arrives_whole(shells):
    shell = shells["lean"]
    for _ in range(3):
        shell.run_command("curl -s http://localhost:8000/health >/dev/null")
    full = shell.run_command("docker logs testgen-copilot | wc -c")
    piped = shell.run_command("docker logs testgen-copilot | head -1 | wc -l")
    assert int(full.stdout) > 0 and piped.stdout.strip() == "1"


def test_unset_bridge_is_reported_with_status_127(shells, tmp_path):
    for kind in KINDS:
        tool = shells[kind].bridge.operator_bin / "docker"
        out = shells[kind].run_command(f"env -u GAMEDAY_BRIDGE {tool} ps")
        assert out.exit_code == 127, kind
        assert "GAMEDAY_BRIDGE unset" in out.stderr, kind
