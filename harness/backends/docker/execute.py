"""`docker exec` with a deadline: the command runs in the container (its environment, its
view of the stack's network and service names), and its exit status, stdout and stderr
come back as the docker CLI would give them. A command past its deadline is killed."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable

import docker
from docker.errors import APIError, NotFound

from harness.backends.base import ExecResult

TIMED_OUT = 124  # as `timeout(1)`


def run_in(
    client: docker.DockerClient,
    container_id: str,
    argv: list[str],
    timeout: float = 30.0,
    *,
    kill: Callable[[int, int], None] | None,
) -> ExecResult:
    """`kill` signals a pid of the engine's host (the exec's, past its deadline): os.kill on
    a local engine, the stack's helper on a remote one (enginehost.py), never os.kill there
    (the pid is the engine host's, not this machine's); None: leave it."""
    api = client.api
    try:
        exec_id = api.exec_create(container_id, argv, stdout=True, stderr=True)["Id"]
    except NotFound:
        return _daemon_error(f"No such container: {container_id[:12]}")
    except APIError as exc:  # e.g. 409: Container … is not running
        return _daemon_error(str(exc.explanation or exc))
    output: list[tuple[bytes | None, bytes | None]] = []
    failure: list[BaseException] = []

    def stream() -> None:
        try:
            output.append(api.exec_start(exec_id, demux=True))
        except Exception as exc:  # noqa: BLE001 - surfaced below, with the exec's status
            failure.append(exc)

    reader = threading.Thread(target=stream, daemon=True, name="docker-exec")
    reader.start()
    reader.join(timeout)
    timed_out = reader.is_alive()
    if timed_out:
        pid = api.exec_inspect(exec_id).get("Pid") or 0
        if pid and kill is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
        reader.join(5.0)
    stdout, stderr = output[0] if output else (b"", b"")
    stdout, stderr = stdout or b"", stderr or b""
    if timed_out:
        return ExecResult(TIMED_OUT, stdout, stderr + f"\ntimed out after {timeout:g}s\n".encode())
    if failure:
        return ExecResult(126, stdout, stderr + f"Error: {failure[0]}\n".encode())
    code = api.exec_inspect(exec_id).get("ExitCode")
    if code is None:
        code = 126
    if code in (126, 127) and stdout.startswith(b"OCI runtime exec failed") and not stderr:
        stdout, stderr = b"", stdout  # the CLI prints the runtime's refusal on stderr
    return ExecResult(int(code), stdout, stderr)


def _daemon_error(message: str) -> ExecResult:
    """The docker CLI's way of failing an exec it could not even start: status 1."""
    return ExecResult(1, b"", f"Error response from daemon: {message}\n".encode())
