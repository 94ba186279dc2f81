"""Helpers shared by the fault proxy suites: processes, ports and sockets."""

from __future__ import annotations

import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.toxiproxy import Toxiproxy, ToxiproxyError

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout is not None:
        process.stdout.close()


def start_faultproxy(port: int = 0, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """Start `python -m harness.faultproxy` (with toxiproxy-server `flags`); return it and
    its API URL once listening."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.faultproxy",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *flags,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT_SECONDS):
                raise RuntimeError("faultproxy printed nothing within 10 s of starting")
        line = process.stdout.readline()
        if not line.startswith("faultproxy listening on "):
            raise RuntimeError(f"faultproxy did not start (exit {process.poll()}): {line!r}")
        return process, line.split()[-1]
    except BaseException:
        stop_process(process)
        raise


def wait_until_answering(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with Toxiproxy(url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
            try:
                client.version()
                return
            except ToxiproxyError:
                time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_SECONDS} s")


def address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(address(listen), timeout=timeout)


def read_until_closed(sock: socket.socket, limit: int = 10_000_000) -> bytes:
    """Everything the peer sends until it closes (bounded by `limit` bytes)."""
    received = bytearray()
    while len(received) < limit:
        data = sock.recv(65536)
        if not data:
            break
        received += data
    return bytes(received)
