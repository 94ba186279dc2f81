"""The differences from Toxiproxy that issue 15 found, each pinned where clients see it.

Every test runs against each server of `proxy_server` (the fault proxy, and Shopify's
toxiproxy-server when it is on PATH), so the expectation is Toxiproxy's own behaviour.
The same points are checked again with clients the project did not write in
`test_real_clients.py`.
"""

from __future__ import annotations

import json
import re
import socket
import threading

import httpx
import pytest

from harness.toxiproxy import Toxiproxy, ToxiproxyError

from .conftest import ProxyServer
from .support import connect, free_port

REQUEST_ID = re.compile(r"^[0-9a-v]{20}$")  # an xid, as zerolog's hlog makes them


class _OneShotUpstream:
    """An upstream that accepts one connection, answers the first data it reads (as
    reset_peer_test.go's server does) and records how reading from it ended."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.outcome: str | None = None
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError as exc:
            self.outcome = f"no connection: {exc}"
            return
        with conn:
            conn.settimeout(10)
            try:
                # On the upstream stream the toxic drops the data: this read ends it.
                if conn.recv(65536):
                    conn.sendall(b"reset toxic payload\n")
                    self.outcome = "more data" if conn.recv(65536) else "eof"
                else:
                    self.outcome = "eof"
            except ConnectionResetError:
                self.outcome = "reset"
            except OSError as exc:
                self.outcome = f"error: {exc}"

    def close(self) -> None:
        self._thread.join(15)
        self.sock.close()


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_reset_peer_resets_both_the_client_and_the_upstream(api: Toxiproxy, stream: str) -> None:
    # Toxiproxy's toxics/reset_peer_test.go: the client reads ECONNRESET, then EOF.
    upstream = _OneShotUpstream()
    try:
        listen = api.create_proxy("reset", "127.0.0.1:0", upstream.address)["listen"]
        api.add_toxic("reset", "reset_peer", {"timeout": 0}, stream=stream)
        with connect(listen) as client:
            client.sendall(b"reset toxic payload\n")
            with pytest.raises(ConnectionResetError):
                client.recv(1000)
            assert client.recv(1000) == b""
    finally:
        upstream.close()

    assert upstream.outcome == "reset"


@pytest.mark.parametrize("stream", ["up", "down", "sideways", ""])
def test_only_the_full_stream_names_are_streams(
    api: Toxiproxy, echo_port: int, stream: str
) -> None:
    api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    with pytest.raises(ToxiproxyError) as refused:
        api.add_toxic("p", "latency", {"latency": 1}, stream=stream)

    assert refused.value.status == 400
    assert refused.value.message == "stream was invalid, can be either upstream or downstream"


def test_stream_names_are_read_in_any_case(api: Toxiproxy, echo_port: int) -> None:
    api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    toxic = api.add_toxic("p", "latency", {"latency": 1}, stream="UpStream", name="slow")

    assert toxic["stream"].lower() == "upstream"


def test_noop_toxic_is_accepted_and_lets_data_through(api: Toxiproxy, echo_port: int) -> None:
    listen = api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")["listen"]

    toxic = api.add_toxic("p", "noop", {"ignored": 5}, stream="upstream")

    assert toxic["name"] == "noop_upstream" and toxic["type"] == "noop"
    assert toxic["attributes"] == {}
    with connect(listen) as client:
        client.sendall(b"through")
        assert client.recv(100) == b"through"


@pytest.mark.parametrize("number", [b"100.0", b"1e2", b"100.5"])
def test_integer_attributes_written_as_floats_are_refused(
    api: Toxiproxy, proxy_server: ProxyServer, echo_port: int, number: bytes
) -> None:
    api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    body = b'{"type": "latency", "attributes": {"latency": ' + number + b"}}"

    response = httpx.post(f"{proxy_server.url}/proxies/p/toxics", content=body)

    assert response.status_code == 400
    assert json.loads(response.text)["error"].startswith("bad request body")
    assert api.toxics("p") == []


def test_an_upstream_without_port_is_accepted_and_its_clients_are_closed(api: Toxiproxy) -> None:
    proxy = api.create_proxy("p", "127.0.0.1:0", "127.0.0.1")

    assert proxy["upstream"] == "127.0.0.1" and proxy["enabled"] is True
    with connect(proxy["listen"]) as client:
        try:
            assert client.recv(100) == b""
        except ConnectionResetError:
            pass  # closed either way: there is no upstream to dial


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:notaport", "256.0.0.1:0"])
def test_a_listen_address_that_cannot_be_bound_is_a_500(api: Toxiproxy, listen: str) -> None:
    with pytest.raises(ToxiproxyError) as refused:
        api.create_proxy("p", listen, f"127.0.0.1:{free_port()}")

    assert refused.value.status == 500
    assert refused.value.message.startswith("listen tcp")
    assert api.proxies() == {}


def test_a_disabled_proxy_keeps_a_bad_listen_address_until_enabled(api: Toxiproxy) -> None:
    proxy = api.create_proxy("p", "nonsense", f"127.0.0.1:{free_port()}", enabled=False)

    assert proxy["listen"] == "nonsense" and proxy["enabled"] is False
    with pytest.raises(ToxiproxyError) as refused:
        api.update_proxy("p", enabled=True)
    assert refused.value.status == 500


def test_populate_with_a_name_given_twice_keeps_the_later(api: Toxiproxy, echo_port: int) -> None:
    dead = f"127.0.0.1:{free_port()}"
    live = f"127.0.0.1:{echo_port}"

    api.populate(
        [
            {"name": "twice", "listen": "127.0.0.1:0", "upstream": dead},
            {"name": "twice", "listen": "127.0.0.1:0", "upstream": live},
        ]
    )

    proxies = api.proxies()
    assert list(proxies) == ["twice"] and proxies["twice"]["upstream"] == live
    with connect(proxies["twice"]["listen"]) as client:
        client.sendall(b"later wins")
        assert client.recv(100) == b"later wins"


def test_populate_errors_are_json_with_a_proxies_key(proxy_server: ProxyServer) -> None:
    response = httpx.post(f"{proxy_server.url}/populate", json=[{"name": "no-upstream"}])

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "missing required field: upstream at proxy 1"
    assert body["proxies"] is None


def test_api_errors_are_json_sent_as_plain_text(api: Toxiproxy, proxy_server: ProxyServer) -> None:
    response = httpx.get(f"{proxy_server.url}/proxies/missing")

    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.endswith("\n")
    assert json.loads(response.text) == {"error": "proxy not found", "status": 404}


def test_unknown_paths_and_methods_get_gorilla_mux_answers(proxy_server: ProxyServer) -> None:
    unknown = httpx.get(f"{proxy_server.url}/nothing/here")
    wrong_method = httpx.put(f"{proxy_server.url}/proxies")

    assert unknown.status_code == 404 and unknown.text == "404 page not found\n"
    assert unknown.headers["content-type"] == "text/plain; charset=utf-8"
    assert wrong_method.status_code == 405 and wrong_method.text == ""


def test_a_browser_is_refused_in_plain_text(proxy_server: ProxyServer) -> None:
    response = httpx.get(f"{proxy_server.url}/proxies", headers={"User-Agent": "Mozilla/5.0"})

    assert response.status_code == 403
    assert response.text == "User agent not allowed\n"


def test_every_routed_answer_carries_a_request_id(
    api: Toxiproxy, proxy_server: ProxyServer
) -> None:
    answers = [
        httpx.get(f"{proxy_server.url}/proxies"),
        httpx.get(f"{proxy_server.url}/proxies"),
        httpx.get(f"{proxy_server.url}/proxies/missing"),
        httpx.get(f"{proxy_server.url}/version"),
    ]

    ids = [answer.headers.get("x-toxiproxy-request-id", "") for answer in answers]
    assert all(REQUEST_ID.match(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


def test_version_is_json_with_a_trailing_newline(proxy_server: ProxyServer) -> None:
    response = httpx.get(f"{proxy_server.url}/version")

    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text.endswith("}\n")
    version = response.json()["version"]
    assert isinstance(version, str) and version
    if proxy_server.kind == "faultproxy":
        # The Toxiproxy release whose API it speaks, then what it really is (SemVer build
        # metadata, which version comparisons ignore).
        assert re.match(r"^2\.\d+\.\d+\+faultproxy\.\d+\.\d+\.\d+$", version), version
