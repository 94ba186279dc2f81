"""What only the project's fault proxy promises: how its process starts and stops, that
bad input never takes it down, its stricter attribute checks, and its toxics' parts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.faultproxy.server import Proxy, ProxyCollection, ToxicEntry, split_address
from harness.faultproxy.toxics import TOXICS, BadAttributes
from harness.faultproxy.toxics.slicer import Slicer
from harness.toxiproxy import Toxiproxy, ToxiproxyError

from .support import REPO, connect, free_port, start_faultproxy, stop_process


@pytest.fixture
def faultproxy() -> Iterator[tuple[subprocess.Popen[str], Toxiproxy]]:
    """A fault proxy process of this test's own, and a client for it."""
    process, url = start_faultproxy()
    client = Toxiproxy(url)
    try:
        yield process, client
    finally:
        client.close()
        stop_process(process)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_every_listener_and_connection_and_exits_zero(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy], echo_port: int, signum: int
) -> None:
    process, api = faultproxy
    listen = api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")["listen"]
    api_port = int(api.base_url.rsplit(":", 1)[1])
    with connect(listen) as open_connection:
        open_connection.sendall(b"hi")
        assert open_connection.recv(8) == b"hi"

        process.send_signal(signum)

        assert process.wait(5) == 0
        with contextlib.suppress(ConnectionResetError):
            assert open_connection.recv(8) == b""
    for port_in_use in (listen, f"127.0.0.1:{api_port}"):
        with pytest.raises(ConnectionRefusedError):
            connect(port_in_use).close()


def test_a_taken_api_port_gives_one_line_and_exit_status_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "harness.faultproxy", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\x10garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /version HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST /proxies HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /proxies HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_http_gets_400_and_the_server_stays_up(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy], garbage: bytes
) -> None:
    process, api = faultproxy
    host, port = api.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(garbage)
        answer = sock.recv(4096)

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert api.version()
    assert process.poll() is None


def test_a_browser_user_agent_is_refused_as_toxiproxy_does(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy],
) -> None:
    _, api = faultproxy
    response = httpx.get(f"{api.base_url}/proxies", headers={"User-Agent": "Mozilla/5.0"})

    assert response.status_code == 403


def test_chunked_request_bodies_are_read(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy], echo_port: int
) -> None:
    _, api = faultproxy
    body = json.dumps({"name": "c", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"})

    response = httpx.post(
        f"{api.base_url}/proxies", content=iter([body[:10].encode(), body[10:].encode()])
    )

    assert response.status_code == 201 and response.json()["name"] == "c"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    toxic_type=st.sampled_from([*TOXICS, "nope", ""]),
    stream=st.sampled_from(["upstream", "downstream", "sideways", 7]),
    toxicity=JSON_VALUES,
    attributes=st.dictionaries(
        st.sampled_from(
            [
                "latency",
                "jitter",
                "rate",
                "delay",
                "timeout",
                "bytes",
                "average_size",
                "size_variation",
                "other",
            ]
        ),
        JSON_VALUES,
        max_size=4,
    )
    | JSON_VALUES,
)
def test_any_toxic_body_gets_a_client_error_or_success_never_a_crash(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy],
    echo_port: int,
    toxic_type: str,
    stream: object,
    toxicity: object,
    attributes: object,
) -> None:
    process, api = faultproxy
    if "fuzz" not in api.proxies():
        api.create_proxy("fuzz", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    body = {
        "type": toxic_type,
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes,
        "name": "t",
    }

    response = httpx.post(
        f"{api.base_url}/proxies/fuzz/toxics", content=json.dumps(body, allow_nan=True)
    )
    if response.status_code == 200:
        api.remove_toxic("fuzz", "t")

    assert response.status_code in (200, 400), response.text
    assert process.poll() is None


@pytest.mark.parametrize(
    ("toxic_type", "attributes", "toxicity"),
    [
        ("latency", {"latency": -1}, 1.0),
        ("latency", {"latency": 1.5}, 1.0),
        ("latency", {"latency": True}, 1.0),
        ("bandwidth", {"rate": 10}, 1.5),
        ("bandwidth", {"rate": 10}, -0.1),
        ("slicer", {"average_size": 0}, 1.0),
        ("slicer", {"average_size": 10, "size_variation": 10}, 1.0),
    ],
)
def test_nonsense_attributes_are_rejected_with_400(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy],
    echo_port: int,
    toxic_type: str,
    attributes: dict[str, object],
    toxicity: float,
) -> None:
    # Stricter than Toxiproxy, which stores these and then misbehaves (a slicer with
    # average_size 0 never returns); the harness would rather hear about the typo.
    _, api = faultproxy
    api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    with pytest.raises(ToxiproxyError) as rejected:
        api.add_toxic("p", toxic_type, attributes, toxicity=toxicity)

    assert rejected.value.status == 400
    assert api.toxics("p") == []


def test_proxy_listening_on_a_taken_port_is_a_500_like_toxiproxy(
    faultproxy: tuple[subprocess.Popen[str], Toxiproxy], echo_port: int
) -> None:
    _, api = faultproxy
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(ToxiproxyError) as refused:
            api.create_proxy("p", f"127.0.0.1:{port}", f"127.0.0.1:{echo_port}")

    assert refused.value.status == 500
    assert "address already in use" in refused.value.message.lower()


def test_the_client_reports_an_unreachable_server_as_status_0() -> None:
    with (
        Toxiproxy(f"http://127.0.0.1:{free_port()}", timeout=2) as api,
        pytest.raises(ToxiproxyError) as unreachable,
    ):
        api.version()

    assert unreachable.value.status == 0
    assert "is the proxy server running?" in str(unreachable.value)


def test_the_registry_holds_one_toxic_class_per_module() -> None:
    assert set(TOXICS) == {
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "noop",
    }
    modules = {toxic.__module__ for toxic in TOXICS.values()}
    assert len(modules) == len(TOXICS)
    assert all(TOXICS[name].__module__.endswith(f".{name}") for name in TOXICS)


def test_toxic_update_keeps_the_attributes_it_does_not_name() -> None:
    toxic = TOXICS["latency"]({"latency": 100, "jitter": 5})

    assert toxic.updated({"jitter": 0}).attributes() == {"latency": 100, "jitter": 0}
    with pytest.raises(BadAttributes):
        toxic.updated({"latency": "soon"})


@given(
    size=st.integers(0, 20_000),
    average=st.integers(1, 500),
    variation_share=st.floats(0, 0.99),
)
def test_slicer_pieces_cover_the_chunk_in_order_near_the_average_size(
    size: int, average: int, variation_share: float
) -> None:
    variation = int(average * variation_share)
    slicer = Slicer({"average_size": average, "size_variation": variation})

    cuts = slicer.cuts(size)

    assert cuts[0][0] == 0 and cuts[-1][1] == size
    assert all(left[1] == right[0] for left, right in zip(cuts, cuts[1:], strict=False))
    assert all(end > start for start, end in cuts) or size == 0
    assert all(end - start <= average + variation for start, end in cuts)


def test_closed_and_dropped_connections_are_forgotten(echo_port: int) -> None:
    async def open_echo(host: str, port: int) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"x")
        await writer.drain()
        assert await reader.readexactly(1) == b"x"
        return writer

    async def settled(proxy: Proxy) -> int:
        for _ in range(200):  # the proxy's side of a close lands a few callbacks later
            if not proxy.connections:
                break
            await asyncio.sleep(0.01)
        return len(proxy.connections)

    async def scenario() -> tuple[int, int, int]:
        collection = ProxyCollection()
        proxy = Proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
        await collection.add(proxy, start=True)
        host, port = split_address(proxy.listen)
        try:
            for number in range(20):
                if number == 10:  # half of them through the toxic pipeline
                    latency = TOXICS["latency"]({"latency": 1})
                    proxy.add_toxic(ToxicEntry("lat", "latency", "downstream", 1.0, latency))
                writer = await open_echo(host, port)
                writer.close()
                await writer.wait_closed()
            after_closing = await settled(proxy)
            writers = [await open_echo(host, port) for _ in range(5)]
            while_open = len(proxy.connections)
            proxy.stop()
            after_disabling = await settled(proxy)
            for writer in writers:
                writer.close()
            return after_closing, while_open, after_disabling
        finally:
            collection.shutdown()

    assert asyncio.run(scenario()) == (0, 5, 0)


@pytest.mark.skipif(not __import__("shutil").which("unshare") or __import__("os").geteuid() != 0,
                    reason="needs unshare(1) and root (a pid namespace)")
def test_as_pid_1_a_stop_before_the_api_listens_is_not_dropped(tmp_path):
    """A container's PID 1 gets only the signals it handles: a `docker stop` during the
    proxy's start (held here before its API listens: a -config FIFO nobody writes) must
    end it at once, not wait out the engine's 10 s for SIGKILL."""
    import os
    import time

    import psutil

    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "harness.faultproxy",
         "-port", "0", "-config", str(fifo)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        child = None
        while time.monotonic() < deadline:  # the proxy blocks opening the FIFO
            kids = psutil.Process(proc.pid).children()
            if kids and _blocked_on_fifo(kids[0].pid):
                child = kids[0]
                break
            time.sleep(0.02)
        assert child is not None, "the proxy never reached its -config FIFO"
        os.kill(child.pid, signal.SIGTERM)  # from the parent namespace, as the engine does
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _blocked_on_fifo(pid: int) -> bool:
    """open(2) of a FIFO with no writer waits in the kernel's fifo_open."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read() == "wait_for_partner"
    except OSError:
        return False
