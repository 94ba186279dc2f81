"""The fault proxy's toxiproxy-server flags (-config, -proxy-metrics, -runtime-metrics,
-version) and its toxiproxy-cli work-alike, `python -m harness.faultproxy.cli`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.toxiproxy import Toxiproxy

from .support import REPO, connect, free_port, start_faultproxy, stop_process


@pytest.fixture
def server() -> Iterator[Toxiproxy]:
    process, url = start_faultproxy()
    client = Toxiproxy(url)
    try:
        yield client
    finally:
        client.close()
        stop_process(process)


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=30, env=env
    )


def cli(api: Toxiproxy, *argv: str) -> subprocess.CompletedProcess[str]:
    return run("-m", "harness.faultproxy.cli", "-h", api.base_url, *argv)


# -- toxiproxy-server flags --------------------------------------------------------------


def test_config_file_proxies_exist_when_the_api_answers(tmp_path: Path, echo_port: int) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [
                {"name": "echo", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
                {"name": "off", "listen": "127.0.0.1:0", "upstream": "x:1", "enabled": False},
            ]
        )
    )
    process, url = start_faultproxy(0, "-config", str(config))
    try:
        with Toxiproxy(url) as api:
            proxies = api.proxies()
            assert set(proxies) == {"echo", "off"}
            assert proxies["echo"]["enabled"] and not proxies["off"]["enabled"]
            with connect(proxies["echo"]["listen"]) as client:
                client.sendall(b"from config")
                assert client.recv(100) == b"from config"
    finally:
        stop_process(process)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ('{"name": "x"}', "expected a JSON array"),
        ('[{"name": "x"}]', "missing required field: upstream at proxy 1"),
        ('[{"name": "x", "upstream": "a:1", "listen": "nonsense"}]', "listen tcp"),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2_with_nothing_listening(
    tmp_path: Path, content: str | None, says: str
) -> None:
    config = tmp_path / "toxiproxy.json"
    if content is not None:
        config.write_text(content)
    port = free_port()

    result = run("-m", "harness.faultproxy", "-port", str(port), "-config", str(config))

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr
    with pytest.raises(ConnectionRefusedError):
        connect(f"127.0.0.1:{port}").close()


@pytest.mark.parametrize(
    "argv", [["-port", "http"], ["-port", "70000"], ["-frobnicate"], ["-config"]]
)
def test_bad_server_flags_are_one_line_and_exit_2(argv: list[str]) -> None:
    result = run("-m", "harness.faultproxy", *argv)

    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1


def test_go_style_flags_and_version_are_understood() -> None:
    result = run("-m", "harness.faultproxy", "-version")

    assert result.returncode == 0
    assert result.stdout.startswith("faultproxy (toxiproxy-server compatible) version 2.")


def test_metrics_are_absent_without_a_metrics_flag(server: Toxiproxy) -> None:
    assert httpx.get(f"{server.base_url}/metrics").status_code == 404


def test_proxy_metrics_count_bytes_per_direction_in_prometheus_text(echo_port: int) -> None:
    process, url = start_faultproxy(0, "-proxy-metrics")
    try:
        with Toxiproxy(url) as api:
            listen = api.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")["listen"]
            with connect(listen) as client:
                client.sendall(b"12345")
                assert client.recv(100) == b"12345"
            api.add_toxic("echo", "latency", {"latency": 1})
            with connect(listen) as client:
                client.sendall(b"abc")
                assert client.recv(100) == b"abc"
            response = httpx.get(f"{url}/metrics")
            api.delete_proxy("echo")
            after_delete = httpx.get(f"{url}/metrics")  # counters never go back
    finally:
        stop_process(process)

    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    for text in (response.text, after_delete.text):
        samples = {
            (sample.name, sample.labels["direction"]): sample
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        for name in ("toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"):
            for direction in ("upstream", "downstream"):
                sample = samples[(name, direction)]
                assert sample.value == 8  # both connections, fast path and toxic path
                assert sample.labels["proxy"] == "echo" and sample.labels["listener"] == listen
                assert sample.labels["upstream"] == f"127.0.0.1:{echo_port}"


def test_runtime_metrics_include_the_process_collector() -> None:
    process, url = start_faultproxy(0, "-runtime-metrics")
    try:
        response = httpx.get(f"{url}/metrics")
    finally:
        stop_process(process)

    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert "process_resident_memory_bytes" in names
    assert not any(name.startswith("toxiproxy_") for name in names)


# -- the toxiproxy-cli work-alike --------------------------------------------------------


def test_cli_creates_inspects_toggles_and_deletes_a_proxy(
    server: Toxiproxy, echo_port: int
) -> None:
    upstream = f"127.0.0.1:{echo_port}"

    created = cli(server, "create", "-l", "127.0.0.1:0", "-u", upstream, "echo")
    assert (created.returncode, created.stdout) == (0, "Created new proxy echo\n")
    listen = server.get_proxy("echo")["listen"]

    listed = cli(server, "ls")
    assert listed.stdout == f"echo\t{listen}\t{upstream}\tenabled\t0\n"

    toggled = cli(server, "tog", "echo")
    assert toggled.stdout == "Proxy echo is now disabled\n"
    assert server.get_proxy("echo")["enabled"] is False

    deleted = cli(server, "delete", "echo")
    assert deleted.stdout == "Deleted proxy echo\n" and server.proxies() == {}


def test_cli_adds_updates_and_removes_toxics_with_toxiproxy_cli_flags(
    server: Toxiproxy, echo_port: int
) -> None:
    server.create_proxy("echo", "127.0.0.1:0", f"127.0.0.1:{echo_port}")

    add = "toxic add -t latency -n slow -a latency=100 --attribute jitter=5 --upstream -tox 0.5"

    added = cli(server, *add.split(), "echo")

    assert added.stdout == "Added upstream latency toxic 'slow' on proxy 'echo'\n"
    assert server.get_toxic("echo", "slow") == {
        "name": "slow",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 0.5,
        "attributes": {"latency": 100, "jitter": 5},
    }

    updated = cli(server, "toxic", "u", "-toxicName", "slow", "-a", "latency=250", "echo")
    assert updated.stdout == "Updated toxic 'slow' on proxy 'echo'\n"
    toxic = server.get_toxic("echo", "slow")
    assert toxic["attributes"] == {"latency": 250, "jitter": 5} and toxic["toxicity"] == 0.5

    inspected = cli(server, "inspect", "echo")
    assert inspected.stdout == (
        "slow\ttype=latency\tstream=upstream\ttoxicity=0.50\t"
        "attributes=[\tjitter=5\tlatency=250\t]\n"
    )

    removed = cli(server, "toxic", "delete", "-n", "slow", "echo")
    assert removed.stdout == "Removed toxic 'slow' on proxy 'echo'\n"
    assert server.toxics("echo") == []


def test_cli_reads_the_server_from_toxiproxy_url(server: Toxiproxy) -> None:
    env = {"PATH": "/usr/bin:/bin", "TOXIPROXY_URL": server.base_url}

    result = run("-m", "harness.faultproxy.cli", "list", env=env)

    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["toxic"],
        ["inspect"],
        ["create", "-u", "127.0.0.1:1", "p"],
        ["toxic", "add", "-t", "latency", "-u", "-d", "p"],
        ["toxic", "add", "-t", "latency", "-tox", "1.5", "p"],
        ["frobnicate"],
    ],
)
def test_cli_usage_errors_are_one_line_and_exit_2(server: Toxiproxy, argv: list[str]) -> None:
    result = cli(server, *argv)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert server.proxies() == {}


def test_cli_reports_a_server_refusal_in_one_line_with_exit_1(server: Toxiproxy) -> None:
    result = cli(server, "inspect", "missing")

    assert result.returncode == 1
    assert result.stderr == (
        "Failed to retrieve proxy missing: toxiproxy GET /proxies/missing: 404 proxy not found\n"
    )
