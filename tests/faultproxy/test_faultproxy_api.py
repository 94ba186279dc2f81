"""Conformance of the REST API: each test runs against every server in `proxy_server`
(the project's fault proxy, and the real Toxiproxy when it is on PATH)."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from harness.toxiproxy import Toxiproxy, ToxiproxyError

from .conftest import ProxyServer
from .support import address

PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}
TOXIC_KEYS = {"name", "type", "stream", "toxicity", "attributes"}


def test_version_reports_a_version_string(api: Toxiproxy) -> None:
    assert api.version()


def test_proxy_on_port_zero_reports_its_real_port_and_carries_redis_traffic(
    api: Toxiproxy, redis_port: int
) -> None:
    proxy = api.create_proxy("redis", "127.0.0.1:0", f"127.0.0.1:{redis_port}")

    assert set(proxy) == PROXY_KEYS
    assert proxy["name"] == "redis" and proxy["enabled"] is True and proxy["toxics"] == []
    host, port = address(proxy["listen"])
    assert port != 0
    client = redis.Redis(host=host, port=port, socket_timeout=5)
    try:
        assert client.set("conformance", "yes") and client.get("conformance") == b"yes"
    finally:
        client.close()


def test_proxies_can_be_listed_shown_and_deleted(api: Toxiproxy, echo_port: int) -> None:
    created = api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    assert api.proxies() == {"echo": created}
    assert api.get_proxy("echo") == created
    api.delete_proxy("echo")
    assert api.proxies() == {}
    with pytest.raises(ToxiproxyError) as missing:
        api.get_proxy("echo")
    assert missing.value.status == 404


def test_a_disabled_proxy_can_be_created(api: Toxiproxy, echo_port: int) -> None:
    proxy = api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}", enabled=False)

    assert proxy["enabled"] is False


def test_toxic_gets_toxiproxy_defaults(api: Toxiproxy, echo_port: int) -> None:
    api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    toxic = api.add_toxic("echo", "latency", {"latency": 100})

    assert set(toxic) == TOXIC_KEYS
    assert toxic["name"] == "latency_downstream"
    assert toxic["stream"] == "downstream"
    assert toxic["toxicity"] == 1
    assert toxic["attributes"] == {"latency": 100, "jitter": 0}
    assert api.toxics("echo") == [toxic]
    assert api.get_toxic("echo", "latency_downstream") == toxic
    assert api.get_proxy("echo")["toxics"] == [toxic]


@pytest.mark.parametrize(
    ("toxic_type", "attributes"),
    [
        ("latency", {"latency": 10, "jitter": 5}),
        ("bandwidth", {"rate": 100}),
        ("slow_close", {"delay": 10}),
        ("timeout", {"timeout": 10}),
        ("reset_peer", {"timeout": 10}),
        ("slicer", {"average_size": 64, "size_variation": 32, "delay": 10}),
        ("limit_data", {"bytes": 10}),
    ],
)
def test_every_toxic_type_is_accepted_with_its_attributes(
    api: Toxiproxy, echo_port: int, toxic_type: str, attributes: dict[str, int]
) -> None:
    api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    toxic = api.add_toxic("echo", toxic_type, attributes, stream="upstream", toxicity=0.5)

    assert toxic["name"] == f"{toxic_type}_upstream"
    assert toxic["attributes"] == attributes
    assert toxic["toxicity"] == 0.5


def test_toxic_update_changes_only_the_given_attributes(api: Toxiproxy, echo_port: int) -> None:
    api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    api.add_toxic("echo", "latency", {"latency": 100, "jitter": 10}, name="slow")

    updated = api.update_toxic("echo", "slow", {"latency": 300}, toxicity=0.25)

    assert updated["attributes"] == {"latency": 300, "jitter": 10}
    assert updated["toxicity"] == 0.25
    api.remove_toxic("echo", "slow")
    assert api.toxics("echo") == []


def test_post_on_a_proxy_updates_it(
    api: Toxiproxy, proxy_server: ProxyServer, echo_port: int
) -> None:
    api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    response = httpx.post(f"{proxy_server.url}/proxies/echo", json={"enabled": False})

    assert response.status_code == 200
    assert response.json()["enabled"] is False


def test_populate_creates_proxies_and_keeps_unchanged_ones(api: Toxiproxy, echo_port: int) -> None:
    upstream = f"127.0.0.1:{echo_port}"
    first = api.populate([{"name": "a", "listen": "127.0.0.1:0", "upstream": upstream}])
    listen = first[0]["listen"]
    api.add_toxic("a", "latency", {"latency": 50})

    again = api.populate(
        [
            {"name": "a", "listen": listen, "upstream": upstream},
            {"name": "b", "listen": "127.0.0.1:0", "upstream": upstream, "enabled": False},
        ]
    )

    assert [proxy["name"] for proxy in again] == ["a", "b"]
    assert again[0]["listen"] == listen
    assert [toxic["name"] for toxic in again[0]["toxics"]] == ["latency_downstream"]
    assert again[1]["enabled"] is False
    assert set(api.proxies()) == {"a", "b"}


def test_reset_enables_every_proxy_and_removes_every_toxic(api: Toxiproxy, echo_port: int) -> None:
    api.create_proxy("a", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    api.create_proxy("b", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    api.add_toxic("a", "latency", {"latency": 50})
    api.add_toxic("b", "timeout", {"timeout": 0}, stream="upstream")
    api.update_proxy("b", enabled=False)

    api.reset()

    proxies = api.proxies()
    assert all(proxy["enabled"] and proxy["toxics"] == [] for proxy in proxies.values())


# (method, path, body, expected status) against a server holding proxy "p" (with toxic
# "slow") whose upstream is the echo server.
ERROR_CASES = [
    ("GET", "/proxies/missing", None, 404),
    ("DELETE", "/proxies/missing", None, 404),
    ("GET", "/proxies/missing/toxics", None, 404),
    ("GET", "/proxies/p/toxics/missing", None, 404),
    ("DELETE", "/proxies/p/toxics/missing", None, 404),
    ("PATCH", "/proxies/p/toxics/missing", b'{"attributes": {}}', 404),
    ("POST", "/proxies", b'{"name": "p", "listen": "127.0.0.1:0", "upstream": "{up}"}', 409),
    ("POST", "/proxies", b'{"listen": "127.0.0.1:0", "upstream": "{up}"}', 400),
    ("POST", "/proxies", b'{"name": "q", "listen": "127.0.0.1:0"}', 400),
    ("POST", "/proxies", b"{not json", 400),
    ("POST", "/proxies/p/toxics", b'{"type": "latency", "name": "slow"}', 409),
    ("POST", "/proxies/p/toxics", b'{"type": "no_such_toxic"}', 400),
    ("POST", "/proxies/p/toxics", b'{"attributes": {"latency": 1}}', 400),
    ("POST", "/proxies/p/toxics", b'{"type": "latency", "stream": "sideways"}', 400),
    ("POST", "/proxies/p/toxics", b'{"type": "latency", "attributes": {"latency": "x"}}', 400),
    ("POST", "/proxies/p/toxics", b"[1, 2", 400),
    ("POST", "/populate", b'[{"name": "q"}]', 400),
    ("POST", "/populate", b"{oops", 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), ERROR_CASES)
def test_api_errors_have_toxiproxy_status_and_shape(
    api: Toxiproxy,
    proxy_server: ProxyServer,
    echo_port: int,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
) -> None:
    upstream = f"127.0.0.1:{echo_port}"
    api.create_proxy("p", "127.0.0.1:0", upstream)
    api.add_toxic("p", "latency", {"latency": 1}, name="slow")
    content = body.replace(b"{up}", upstream.encode()) if body else None

    response = httpx.request(method, f"{proxy_server.url}{path}", content=content)

    assert response.status_code == status
    error = json.loads(response.text)
    assert error["status"] == status and isinstance(error["error"], str) and error["error"]
    assert api.version()  # and the server is still there


def test_client_raises_toxiproxy_error_with_the_server_message(
    api: Toxiproxy, echo_port: int
) -> None:
    api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    with pytest.raises(ToxiproxyError) as duplicate:
        api.create_proxy("p", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    assert duplicate.value.status == 409
    assert duplicate.value.message == "proxy already exists"
