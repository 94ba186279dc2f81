"""A process on a remote engine's host, as a local process stands for it (a fault's port
squatter: a real squatter is another program on the machine whose port it takes).

    harness ── Popen ──▶ this relay (local, own session, the stack's marker)
                           │ creates + starts, on the engine:
                           ▼
                         container: network = the engine host's, the stack's labels,
                                    argv as given (python3 for this interpreter)
                           │ its output ──▶ the relay's stdout (the caller reads "listening")
                           ▼
    the relay exits when the container exits, with its status; SIGTERM/SIGINT to the
    relay removes the container; a watchdog in its own session removes it when the relay
    is killed outright (SIGKILL to its process group), and the stack's teardown removes
    whatever carries its labels anyway.

    python -m harness.backends.docker.hostprocess SPEC_JSON
      SPEC: {"image", "labels", "argv", "name"}
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound


def spawn(spec: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.backends.docker.hostprocess", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def _remove(name: str) -> None:
    client = docker.from_env(timeout=30)
    try:
        with contextlib.suppress(NotFound, APIError):
            client.api.remove_container(name, force=True)
    finally:
        client.close()


def _watchdog(name: str) -> int:
    """A child in its own session: when the relay's end of the pipe closes (the relay is
    gone, however), remove the container."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        os.setsid()
        while os.read(read_end, 1):
            pass
        with contextlib.suppress(DockerException):
            _remove(name)
        os._exit(0)
    os.close(read_end)
    return write_end  # held open until the relay exits


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    name = str(spec["name"])
    _watchdog(name)
    client = docker.from_env(timeout=None)

    def stop(*_: object) -> None:
        _remove(name)
        os._exit(143)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        created = client.api.create_container(
            spec["image"],
            spec["argv"],
            name=name,
            labels=spec["labels"],
            host_config=client.api.create_host_config(network_mode="host"),
        )
        client.api.start(created["Id"])
        for chunk in client.api.logs(created["Id"], stream=True, follow=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        return int(client.api.wait(created["Id"]).get("StatusCode", 1))
    except DockerException as exc:
        print(f"cannot run on the engine's host: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
