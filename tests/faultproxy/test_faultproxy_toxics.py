"""Conformance of the data path: real traffic (a TCP echo server, a real Redis) through
every server in `proxy_server`, with each toxic. Bounds on times are wide: they tell a
toxic that works from one that does nothing or hangs, not a fast proxy from a slow one
(that is `benchmarks/proxy_bench.py`'s job)."""

from __future__ import annotations

import contextlib
import socket
import statistics
import time
from collections.abc import Iterator

import pytest
import redis

from harness.toxiproxy import Toxiproxy

from .support import address, connect, read_until_closed


@pytest.fixture
def redis_proxy(api: Toxiproxy, redis_port: int) -> str:
    """The listen address of a proxy named "redis" in front of the real Redis."""
    return api.create_proxy("redis", "127.0.0.1:0", f"127.0.0.1:{redis_port}")["listen"]


@pytest.fixture
def echo_proxy(api: Toxiproxy, echo_port: int) -> str:
    """The listen address of a proxy named "echo" in front of the echo server."""
    return api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")["listen"]


@pytest.fixture
def redis_client(redis_proxy: str) -> Iterator[redis.Redis]:
    host, port = address(redis_proxy)
    client = redis.Redis(host=host, port=port, socket_timeout=5, single_connection_client=True)
    try:
        yield client
    finally:
        client.close()


def ping_seconds(client: redis.Redis, times: int = 3) -> float:
    """Median time of a Redis PING round trip over one open connection."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        assert client.ping()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays_each_redis_round_trip(
    api: Toxiproxy, redis_client: redis.Redis, stream: str
) -> None:
    assert ping_seconds(redis_client) < 0.1

    api.add_toxic("redis", "latency", {"latency": 150}, stream=stream)

    assert 0.14 <= ping_seconds(redis_client) < 0.6


def test_a_toxic_added_to_an_open_connection_takes_effect_and_lifts(
    api: Toxiproxy, redis_client: redis.Redis
) -> None:
    assert ping_seconds(redis_client) < 0.1  # the connection is open before the toxic

    api.add_toxic("redis", "latency", {"latency": 200}, name="slow")
    slowed = ping_seconds(redis_client)
    api.remove_toxic("redis", "slow")
    lifted = ping_seconds(redis_client)

    assert slowed >= 0.19
    assert lifted < 0.1


def test_toxicity_zero_leaves_connections_alone(api: Toxiproxy, redis_client: redis.Redis) -> None:
    api.add_toxic("redis", "latency", {"latency": 500}, toxicity=0.0)

    assert ping_seconds(redis_client) < 0.25


def test_bandwidth_limits_bytes_per_second(api: Toxiproxy, echo_proxy: str) -> None:
    rate_kb = 100
    payload = bytes(range(256)) * 400  # 102,400 bytes: about a second at 100 KB/s
    api.add_toxic("echo", "bandwidth", {"rate": rate_kb})

    with connect(echo_proxy, timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            assert chunk, "the proxy closed the connection early"
            received += chunk
        elapsed = time.perf_counter() - start

    assert received == payload
    measured_kb = len(payload) / elapsed / 1000
    assert rate_kb * 0.5 <= measured_kb <= rate_kb * 1.3


def test_reset_peer_resets_the_connection(api: Toxiproxy, redis_proxy: str) -> None:
    api.add_toxic("redis", "reset_peer", {"timeout": 0})

    with connect(redis_proxy) as sock:
        sock.sendall(b"PING\r\n")
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock)


def test_reset_peer_waits_its_timeout_before_resetting(api: Toxiproxy, redis_proxy: str) -> None:
    api.add_toxic("redis", "reset_peer", {"timeout": 300})

    with connect(redis_proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"PING\r\n")
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock)
        elapsed = time.perf_counter() - start

    assert 0.25 <= elapsed < 3


def test_timeout_zero_holds_the_connection_open_without_data(
    api: Toxiproxy, redis_proxy: str
) -> None:
    api.add_toxic("redis", "timeout", {"timeout": 0})

    with connect(redis_proxy, timeout=1.0) as sock:
        sock.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(16)  # neither the reply nor a close within a second


def test_timeout_closes_the_connection_after_its_delay(api: Toxiproxy, redis_proxy: str) -> None:
    api.add_toxic("redis", "timeout", {"timeout": 300})

    with connect(redis_proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"PING\r\n")
        assert read_until_closed(sock) == b""  # no reply, then the close
        elapsed = time.perf_counter() - start

    assert 0.25 <= elapsed < 3


def test_slow_close_delays_the_close_after_redis_quits(api: Toxiproxy, redis_proxy: str) -> None:
    api.add_toxic("redis", "slow_close", {"delay": 400})

    with connect(redis_proxy) as sock:
        sock.sendall(b"QUIT\r\n")
        received = sock.recv(16)
        start = time.perf_counter()
        rest = read_until_closed(sock)
        elapsed = time.perf_counter() - start

    assert received + rest == b"+OK\r\n"
    assert 0.35 <= elapsed < 3


def test_limit_data_closes_after_the_given_bytes(api: Toxiproxy, echo_proxy: str) -> None:
    api.add_toxic("echo", "limit_data", {"bytes": 10})

    with connect(echo_proxy) as sock:
        sock.sendall(b"0123456789abcdefghij" * 5)
        received = read_until_closed(sock)

    assert received == b"0123456789"


def test_slicer_delivers_data_in_small_delayed_pieces(api: Toxiproxy, echo_proxy: str) -> None:
    payload = bytes(range(256)) * 4  # 1024 bytes -> about ten slices, 20 ms apart
    api.add_toxic("echo", "slicer", {"average_size": 100, "size_variation": 10, "delay": 20_000})

    with connect(echo_proxy) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            piece = sock.recv(65536)
            assert piece, "the proxy closed the connection early"
            pieces.append(piece)
        elapsed = time.perf_counter() - start

    assert b"".join(pieces) == payload
    assert len(pieces) >= 4
    assert elapsed >= 0.1


def test_disabling_a_proxy_refuses_new_connections_and_drops_open_ones(
    api: Toxiproxy, echo_proxy: str
) -> None:
    with connect(echo_proxy) as sock:
        sock.sendall(b"hello")
        assert sock.recv(16) == b"hello"

        disabled = api.update_proxy("echo", enabled=False)

        assert disabled["enabled"] is False
        with contextlib.suppress(ConnectionResetError):  # dropped, by FIN or RST
            assert sock.recv(16) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(echo_proxy).close()

    api.update_proxy("echo", enabled=True)

    with connect(echo_proxy) as sock:
        sock.sendall(b"again")
        assert sock.recv(16) == b"again"


def test_a_proxy_to_a_dead_upstream_closes_the_client(api: Toxiproxy) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{unused.getsockname()[1]}"  # bound, never listening
        listen = api.create_proxy("dead", "127.0.0.1:0", dead)["listen"]
        with connect(listen) as sock, contextlib.suppress(ConnectionResetError):
            assert read_until_closed(sock) == b""


def test_removing_a_timeout_closes_the_connections_it_held(
    api: Toxiproxy, redis_proxy: str
) -> None:
    # Toxiproxy's TimeoutToxic.Cleanup: the data it dropped left the peers out of step.
    api.add_toxic("redis", "timeout", {"timeout": 0})

    with connect(redis_proxy) as sock:
        sock.sendall(b"PING\r\n")
        api.remove_toxic("redis", "timeout_downstream")
        # FIN, or RST when the proxy closed with the PING still unread in its buffer.
        with contextlib.suppress(ConnectionResetError):
            assert read_until_closed(sock) == b""
