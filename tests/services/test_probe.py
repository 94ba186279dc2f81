"""The healthcheck probe: 0 on 2xx within the deadline, else 1."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from servicekit import REPO, free_port, service_env


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.services.probe", *args],
                          env=service_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=20)


def test_healthy(llm):
    proc = probe(f"{llm.base}/_chaos/health")
    assert proc.returncode == 0 and proc.stderr == ""


def test_unhealthy(llm):
    assert probe(f"http://127.0.0.1:{free_port()}/health").returncode == 1  # refused
    assert probe(f"{llm.base}/nope").returncode == 1  # 404
    assert probe(f"{llm.base}/v1/models").returncode == 1  # 401
    assert probe().returncode == 1
    assert probe("not a url").returncode == 1


def test_deadline_covers_the_whole_exchange(llm):
    httpx.put(f"{llm.base}/_chaos/mode", json={"provider": "ollama", "mode": "hang"})
    t0 = time.monotonic()
    proc = probe(f"{llm.base}/api/tags", "--timeout", "0.5")
    assert proc.returncode == 1 and "no answer within 0.5s" in proc.stderr
    assert time.monotonic() - t0 < 3
    t0 = time.monotonic()
    assert probe(f"{llm.base}/api/tags").returncode == 1  # default: 2 s
    assert 1.9 < time.monotonic() - t0 < 4


def _one_answer_server(answer: bytes, then_close: bool = True):
    """A server that answers every connection with `answer` (then closes, or holds it)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held = []

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(answer)
            if then_close:
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}/health"


def test_the_answer_is_read_to_its_end_whatever_its_framing():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"2\r\nok\r\n0\r\n\r\n")  # fmt: skip
    empty = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    closed = b"HTTP/1.0 200 OK\r\n\r\nok"  # no length: the close ends it
    for answer, hold in ((chunked, True), (empty, True), (closed, False)):
        srv, url = _one_answer_server(answer, then_close=not hold)
        try:
            proc = probe(url, "--timeout", "1")
            assert proc.returncode == 0, (answer, proc.stderr)
        finally:
            srv.close()


@pytest.mark.parametrize(("answer", "hold", "said"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", True, "no answer within 1s"),
    (b"SSH-2.0-OpenSSH\r\n", False, "not an HTTP answer"),
    (b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n", False, "HTTP 302"),
], ids=["body-never-comes", "not-http", "redirect-not-followed"])  # fmt: skip
def test_unhealthy_answers(answer, hold, said):
    srv, url = _one_answer_server(answer, then_close=not hold)
    try:
        proc = probe(url, "--timeout", "1")
        assert proc.returncode == 1 and said in proc.stderr, proc.stderr
    finally:
        srv.close()
