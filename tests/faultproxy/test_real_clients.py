"""Toxiproxy conformance checked by clients the project did not write (issue 15).

The fault proxy is driven by:
- `toxiproxy-python` (PyPI), Shopify Toxiproxy's Python client;
- Chaos Toolkit (`chaostoolkit` + `chaostoolkit-toxiproxy`): `chaos run` of an experiment
  whose method poisons a Redis link, checked for the deviation and the rollbacks;
- `toxiproxy-node-client` (npm), where `node` is on PATH and the package is installed in
  `tests/faultproxy/node` (`npm install --prefix tests/faultproxy/node`, done by `.ci/run`).

Each is a dev dependency (`pip install -e '.[dev]'`); a missing one skips its tests and says
how to get it. Between them they cover every difference issue 15 lists; see
docs/toxiproxy-conformance.md for the table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from harness.toxiproxy import Toxiproxy as OwnClient

from .support import REPO, connect, free_port, start_faultproxy, stop_process

NODE_DIR = Path(__file__).parent / "node"
NODE_CLIENT = NODE_DIR / "node_modules" / "toxiproxy-node-client"


@pytest.fixture(scope="module")
def faultproxy_url() -> Iterator[str]:
    process, url = start_faultproxy(0, "-proxy-metrics")
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture
def clean_server(faultproxy_url: str) -> Iterator[str]:
    """The module's fault proxy, emptied after each test."""
    try:
        yield faultproxy_url
    finally:
        with OwnClient(faultproxy_url) as api:
            for name in api.proxies():
                api.delete_proxy(name)


# -- toxiproxy-python ----------------------------------------------------------------------


@pytest.fixture
def toxiproxy_python(clean_server: str) -> Iterator[Any]:
    """toxiproxy-python's `Toxiproxy`, aimed at the fault proxy (it keeps the server on a
    class, so the previous aim is restored afterwards)."""
    toxiproxy = pytest.importorskip(
        "toxiproxy",
        reason="toxiproxy-python is not installed: pip install -e '.[dev]'",
    )
    from toxiproxy.api import APIConsumer

    saved = (APIConsumer.host, APIConsumer.port)
    host, port = clean_server.removeprefix("http://").rsplit(":", 1)
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(host, int(port))
    try:
        yield server
    finally:
        APIConsumer.host, APIConsumer.port = saved


def test_toxiproxy_python_creates_lists_and_destroys_a_redis_proxy(
    toxiproxy_python: Any, redis_port: int
) -> None:
    proxy = toxiproxy_python.create(upstream=f"127.0.0.1:{redis_port}", name="redis")

    assert toxiproxy_python.running()
    assert set(toxiproxy_python.proxies()) == {"redis"}
    assert toxiproxy_python.get_proxy("redis").upstream == f"127.0.0.1:{redis_port}"
    host, port = proxy.listen.rsplit(":", 1)
    assert redis.Redis(host=host, port=int(port), socket_timeout=5).ping()
    assert toxiproxy_python.destroy(proxy)
    assert toxiproxy_python.proxies() == {}


def test_toxiproxy_python_reads_the_version(toxiproxy_python: Any) -> None:
    version = json.loads(toxiproxy_python.version())["version"]

    assert version.startswith("2.") and "+faultproxy." in version


def test_toxiproxy_python_toxics_come_and_go_and_down_refuses_clients(
    toxiproxy_python: Any, redis_port: int
) -> None:
    proxy = toxiproxy_python.create(upstream=f"127.0.0.1:{redis_port}", name="redis")
    proxy.add_toxic(type="latency", attributes={"latency": 10, "jitter": 1})
    proxy.add_toxic(type="noop", stream="upstream")

    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "noop_upstream"}
    assert toxics["latency_downstream"].attributes == {"latency": 10, "jitter": 1}
    assert proxy.destroy_toxic("latency_downstream")
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        connect(proxy.listen).close()
    connect(proxy.listen).close()
    assert toxiproxy_python.reset()
    assert proxy.toxics() == {}


def test_toxiproxy_python_reset_peer_resets_the_client(
    toxiproxy_python: Any, redis_port: int
) -> None:
    proxy = toxiproxy_python.create(upstream=f"127.0.0.1:{redis_port}", name="redis")
    proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 0})

    with connect(proxy.listen) as client:
        client.sendall(b"PING\r\n")
        with pytest.raises(ConnectionResetError):
            client.recv(100)


@pytest.mark.parametrize(
    ("toxic", "why"),
    [
        ({"type": "latency", "stream": "up"}, "short stream name"),
        ({"type": "latency", "stream": "down"}, "short stream name"),
        ({"type": "latency", "attributes": {"latency": 100.0}}, "integer written as a float"),
        ({"type": "no_such_toxic"}, "unknown type"),
    ],
)
def test_toxiproxy_python_gets_invalid_toxic_where_toxiproxy_answers_400(
    toxiproxy_python: Any, redis_port: int, toxic: dict[str, Any], why: str
) -> None:
    from toxiproxy.exceptions import InvalidToxic

    proxy = toxiproxy_python.create(upstream=f"127.0.0.1:{redis_port}", name="redis")

    with pytest.raises(InvalidToxic) as refused:
        proxy.add_toxic(**toxic)

    assert json.loads(refused.value.args[0])["status"] == 400, why
    assert proxy.toxics() == {}


def test_toxiproxy_python_errors_carry_toxiproxy_plain_text_json(toxiproxy_python: Any) -> None:
    from toxiproxy.api import APIConsumer
    from toxiproxy.exceptions import NotFound

    with pytest.raises(NotFound) as missing:
        APIConsumer.get("/proxies/missing")
    response = APIConsumer.get("/proxies")

    assert missing.value.args[0] == b'{"error":"proxy not found","status":404}\n'
    assert len(response.headers["X-Toxiproxy-Request-Id"]) == 20


def test_toxiproxy_python_accepts_an_upstream_without_port(toxiproxy_python: Any) -> None:
    proxy = toxiproxy_python.create(upstream="127.0.0.1", name="portless")

    assert proxy.upstream == "127.0.0.1" and proxy.enabled is True


def test_a_listen_address_that_cannot_be_bound_is_500_to_toxiproxy_python(
    toxiproxy_python: Any,
) -> None:
    from toxiproxy.api import APIConsumer

    # toxiproxy-python passes 5xx through (it then fails to read a proxy from the body, as
    # it does against Toxiproxy itself): read the status from its API consumer.
    response = APIConsumer.post(
        "/proxies", json={"name": "bad", "listen": "nonsense", "upstream": "127.0.0.1:1"}
    )

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert json.loads(response.content)["error"].startswith("listen tcp")
    assert toxiproxy_python.proxies() == {}


def test_populate_with_a_duplicate_name_keeps_the_later_for_toxiproxy_python(
    toxiproxy_python: Any, redis_port: int
) -> None:
    from toxiproxy.api import APIConsumer

    response = APIConsumer.post(
        "/populate",
        json=[
            {"name": "twice", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{free_port()}"},
            {"name": "twice", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{redis_port}"},
        ],
    )

    assert response.status_code == 201
    assert toxiproxy_python.get_proxy("twice").upstream == f"127.0.0.1:{redis_port}"


def test_toxiproxy_python_sees_proxies_from_a_config_file(tmp_path: Path, redis_port: int) -> None:
    pytest.importorskip("toxiproxy", reason="toxiproxy-python is not installed")
    from toxiproxy import Toxiproxy
    from toxiproxy.api import APIConsumer

    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "redis", "upstream": f"127.0.0.1:{redis_port}"}]))
    process, url = start_faultproxy(0, "-config", str(config))
    saved = (APIConsumer.host, APIConsumer.port)
    try:
        server = Toxiproxy()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        server.update_api_consumer(host, int(port))
        assert list(server.proxies()) == ["redis"]
    finally:
        APIConsumer.host, APIConsumer.port = saved
        stop_process(process)


def test_proxy_metrics_count_what_toxiproxy_python_sent(
    toxiproxy_python: Any, redis_port: int, clean_server: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    proxy = toxiproxy_python.create(upstream=f"127.0.0.1:{redis_port}", name="metered")
    with connect(proxy.listen) as client:
        client.sendall(b"PING\r\n")
        assert client.recv(100) == b"+PONG\r\n"

    samples = {
        (sample.name, sample.labels["direction"]): sample.value
        for family in text_string_to_metric_families(httpx.get(f"{clean_server}/metrics").text)
        for sample in family.samples
        if sample.labels.get("proxy") == "metered"
    }
    assert samples[("toxiproxy_proxy_received_bytes_total", "upstream")] == 6
    assert samples[("toxiproxy_proxy_sent_bytes_total", "downstream")] == 7


def test_toxiproxy_python_sees_what_the_toxiproxy_cli_work_alike_made(
    toxiproxy_python: Any, redis_port: int, clean_server: str
) -> None:
    cli = [sys.executable, "-m", "harness.faultproxy.cli", "-h", clean_server]
    commands = [
        ["create", "-l", "127.0.0.1:0", "-u", f"127.0.0.1:{redis_port}", "redis"],
        ["toxic", "add", "-t", "latency", "-n", "slow", "-a", "latency=100", "redis"],
    ]
    for command in commands:
        subprocess.run([*cli, *command], cwd=REPO, check=True, capture_output=True, timeout=30)

    toxic = toxiproxy_python.get_proxy("redis").get_toxic("slow")
    assert (toxic.type, toxic.stream, toxic.attributes) == (
        "latency",
        "downstream",
        {"latency": 100, "jitter": 0},
    )


# -- Chaos Toolkit -------------------------------------------------------------------------


def _redis_ping_probe(listen: str) -> dict[str, Any]:
    """A process probe: exit 0 when Redis answers PING through the proxy, else 1."""
    host, port = listen.rsplit(":", 1)
    code = (
        "import redis, sys\n"
        f"client = redis.Redis(host={host!r}, port={port}, socket_timeout=2)\n"
        "try:\n    sys.exit(0 if client.ping() else 1)\n"
        "except redis.RedisError:\n    sys.exit(1)\n"
    )
    return {"type": "process", "path": sys.executable, "arguments": ["-c", code], "timeout": 20}


def _chaostoxi(module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": f"chaostoxi.{module}", "func": func, "arguments": arguments}


def test_chaos_toolkit_detects_the_deviation_and_rolls_back(
    clean_server: str, redis_port: int, tmp_path: Path
) -> None:
    pytest.importorskip("chaostoxi", reason="chaostoolkit-toxiproxy: pip install -e '.[dev]'")
    chaos = shutil.which("chaos") or str(Path(sys.executable).parent / "chaos")
    if not Path(chaos).exists():
        pytest.skip("chaostoolkit's `chaos` command is not installed: pip install -e '.[dev]'")
    with OwnClient(clean_server) as api:
        listen = api.create_proxy("redis", "127.0.0.1:0", f"127.0.0.1:{redis_port}")["listen"]
    experiment = {
        "version": "1.0.0",
        "title": "Redis keeps answering when its link is poisoned",
        "description": "The fault proxy driven by chaostoolkit-toxiproxy.",
        "configuration": {"toxiproxy_url": clean_server},
        "steady-state-hypothesis": {
            "title": "Redis answers through an enabled proxy",
            "probes": [
                {
                    "type": "probe",
                    "name": "proxy-is-enabled",
                    "tolerance": True,
                    "provider": _chaostoxi(
                        "proxy.probes",
                        "get_proxy_attribute",
                        proxy_name="redis",
                        attribute="enabled",
                    ),
                },
                {
                    "type": "probe",
                    "name": "redis-answers-ping",
                    "tolerance": 0,
                    "provider": _redis_ping_probe(listen),
                },
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "slow-redis",
                "provider": _chaostoxi(
                    "toxic.actions",
                    "create_latency_toxic",
                    for_proxy="redis",
                    toxic_name="slow",
                    latency=20,
                ),
            },
            {
                "type": "action",
                "name": "reset-redis-clients",
                "provider": _chaostoxi(
                    "toxic.actions",
                    "create_toxic",
                    for_proxy="redis",
                    toxic_name="reset",
                    toxic_type="reset_peer",
                    stream="upstream",
                    attributes={"timeout": 0},
                ),
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "remove-reset",
                "provider": _chaostoxi(
                    "toxic.actions", "delete_toxic", for_proxy="redis", toxic_name="reset"
                ),
            },
            {
                "type": "action",
                "name": "remove-slow",
                "provider": _chaostoxi(
                    "toxic.actions", "delete_toxic", for_proxy="redis", toxic_name="slow"
                ),
            },
        ],
    }
    (tmp_path / "experiment.json").write_text(json.dumps(experiment))
    (tmp_path / "settings.yaml").write_text("{}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    result = subprocess.run(
        [
            chaos,
            "--no-version-check",
            "--settings",
            str(tmp_path / "settings.yaml"),
            "--log-file",
            str(tmp_path / "chaostoolkit.log"),
            "run",
            "--rollback-strategy",
            "always",
            "--journal-path",
            str(tmp_path / "journal.json"),
            str(tmp_path / "experiment.json"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    journal = json.loads((tmp_path / "journal.json").read_text())
    assert result.returncode == 1, result.stderr[-2000:]  # chaos run's status for a deviation
    assert journal["status"] == "completed" and journal["deviated"] is True
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    after = {
        probe["activity"]["name"]: probe for probe in journal["steady_states"]["after"]["probes"]
    }
    assert after["proxy-is-enabled"]["tolerance_met"] is True
    assert after["redis-answers-ping"]["tolerance_met"] is False
    assert [run["status"] for run in journal["run"]] == ["succeeded", "succeeded"]
    assert [(r["activity"]["name"], r["status"]) for r in journal["rollbacks"]] == [
        ("remove-reset", "succeeded"),
        ("remove-slow", "succeeded"),
    ]
    assert [run["output"] for run in journal["rollbacks"]] == [True, True]
    with OwnClient(clean_server) as api:
        assert api.toxics("redis") == []
    host, port = listen.rsplit(":", 1)
    assert redis.Redis(host=host, port=int(port), socket_timeout=5).ping()


# -- toxiproxy-node-client -----------------------------------------------------------------

NODE_CHECKS = [
    "version",
    "create_get_and_carry_traffic",
    "toxic_add_get_update_remove",
    "noop_toxic_accepted",
    "stream_up_refused",
    "stream_down_refused",
    "fractional_attribute_refused",
    "upstream_without_port_accepted",
    "bad_listen_is_500",
    "populate_duplicate_later_wins",
    "populate_missing_upstream_is_400",
    "disable_refuses_then_reset_enables",
    "reset_peer_gives_econnreset",
    "errors_are_plain_text_json_with_request_id",
    "remove_proxy",
]


@pytest.fixture(scope="module")
def node_results(faultproxy_url: str, echo_port: int) -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH, so toxiproxy-node-client cannot run")
    if not NODE_CLIENT.is_dir():
        pytest.skip(
            "toxiproxy-node-client is not installed: npm install --prefix tests/faultproxy/node"
        )
    with OwnClient(faultproxy_url) as api:
        assert api.proxies() == {}, "the node checks need an empty server"
    dead = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [node, "conformance.js", faultproxy_url, f"127.0.0.1:{echo_port}", dead],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["check"]: line for line in lines}


@pytest.mark.parametrize("check", NODE_CHECKS)
def test_toxiproxy_node_client(node_results: dict[str, dict[str, Any]], check: str) -> None:
    assert check in node_results, f"conformance.js did not run {check}"
    assert node_results[check]["ok"], node_results[check]["detail"]


def test_every_node_check_is_judged(node_results: dict[str, dict[str, Any]]) -> None:
    assert sorted(node_results) == sorted(NODE_CHECKS)
