"""A fault is confirmed by the effect its parameters ask for, measured: a network toxic through
the real fault proxy (`python -m harness.faultproxy`) in front of a real Redis, against the
same request sent to Redis directly. A fault that falls short is "not in effect", with what
was measured, and the gameday is `aborted`, never a verdict on the runbook."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import make_stack
from harness.backends.base import Stack
from harness.binaries import redis_server_binary
from harness.compose import ComposeFile
from harness.faults.base import Fault, FaultNotTaken
from harness.faults.links import LinkProbe, probe_for
from harness.faults.llm_provider import LlmProviderFault
from harness.faults.memory_pressure import MemoryPressure
from harness.faults.network import LinkToxic, toxiproxy_for
from harness.faults.port_conflict import PortConflict
from harness.faults.service_killed import ServiceKilled
from harness.result import Verdict
from harness.run.gameday import Gameday
from harness.runbook.parse import parse_runbook
from harness.suite import catalog
from harness.toxiproxy import Toxiproxy
from tests.faultproxy.support import free_port, start_faultproxy, stop_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_link() -> Iterator[tuple[Toxiproxy, LinkProbe]]:
    """A real Redis behind the real fault proxy: its API client and the link's probe."""
    port = free_port()
    redis = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    proxy, url = start_faultproxy()
    try:
        _wait_listening(port)
        with Toxiproxy(url, timeout=5) as api:
            info = api.create_proxy("redis", "127.0.0.1:0", f"127.0.0.1:{port}")
            host, _, listen = info["listen"].rpartition(":")
            yield api, LinkProbe("redis", "redis", (host, int(listen)), ("127.0.0.1", port))
    finally:
        stop_process(proxy)
        stop_process(redis)


@pytest.fixture
def link(redis_link: tuple[Toxiproxy, LinkProbe]) -> Iterator[tuple[Toxiproxy, LinkProbe]]:
    api, probe = redis_link
    yield api, probe
    api.update_proxy("redis", enabled=True)
    for toxic in api.toxics("redis"):
        api.remove_toxic("redis", toxic["name"])


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server did not listen on {port}")


def fault(**params: Any) -> LinkToxic:
    return LinkToxic("redis", **params)


def test_a_latency_toxic_is_confirmed_by_the_round_trip_it_adds(link) -> None:
    api, probe = link
    toxic = fault(toxic="latency", latency=200)
    toxic.add(api)
    evidence = toxic.effect(api, probe)
    assert evidence is not None, toxic.shortfall
    assert "through the proxy vs" in evidence and "asked +200 ms" in evidence
    added = int(evidence.split(": +")[1].split(" ms")[0])
    assert added >= 160, evidence


def test_a_latency_below_80_percent_of_the_asked_is_not_in_effect(link) -> None:
    """The proxy holds 100 ms where the scenario asks 400 ms: measured +~100 ms, not in effect."""
    api, probe = link
    api.add_toxic("redis", "latency", {"latency": 100}, name="gameday_latency")
    toxic = fault(toxic="latency", latency=400)
    assert toxic.effect(api, probe) is None
    assert toxic.shortfall is not None
    assert "asked +400 ms (at least 320 ms)" in toxic.shortfall, toxic.shortfall
    assert "through the proxy vs" in toxic.shortfall


def test_a_misspelt_attribute_that_slipped_past_the_check_is_a_no_op_not_in_effect(link) -> None:
    """`latencyy = 400` reaches the proxy as a 0 ms latency toxic: the check measures no delay
    and says so, rather than confirming the fault with "0 ms latency"."""
    api, probe = link
    toxic = fault(toxic="latency", latencyy=400)
    toxic.add(api)
    assert api.get_toxic("redis", "gameday_latency")["attributes"]["latency"] == 0
    assert toxic.effect(api, probe) is None
    assert "asked no latency" in (toxic.shortfall or ""), toxic.shortfall
    with pytest.raises(FaultNotTaken, match=r"^fault not in effect: link redis: .* asked no "
                       r"latency.* \(within 0 s\)$"):  # fmt: skip
        toxic_waits(toxic, api, probe)


def toxic_waits(toxic: LinkToxic, api: Toxiproxy, probe: LinkProbe) -> str:
    """`wait_confirmed` with the measurement above (a stack would supply api and probe)."""

    class Here:
        pass

    toxic.confirm = lambda stack: toxic.effect(api, probe)  # type: ignore[method-assign]
    return toxic.wait_confirmed(Here(), timeout=0.2)  # type: ignore[arg-type]


def test_a_bandwidth_toxic_holds_the_link_at_or_below_its_rate(link) -> None:
    api, probe = link
    toxic = fault(toxic="bandwidth", rate=40)
    toxic.add(api)
    evidence = toxic.effect(api, probe)
    assert evidence is not None, toxic.shortfall
    measured = int(evidence.split(": ")[1].split(" KB/s")[0])
    assert measured <= 40 * 1.25 and "asked at most 40 KB/s" in evidence


def test_a_bandwidth_above_what_the_link_carries_anyway_is_not_in_effect(link) -> None:
    api, probe = link
    toxic = fault(toxic="bandwidth", rate=10**9)
    toxic.add(api)
    assert toxic.effect(api, probe) is None
    assert "the link is that slow without the toxic" in (toxic.shortfall or "")


def test_a_bandwidth_the_proxy_does_not_hold_is_not_in_effect(link) -> None:
    api, probe = link
    api.add_toxic("redis", "bandwidth", {"rate": 10**9}, name="gameday_bandwidth")
    toxic = fault(toxic="bandwidth", rate=40)
    assert toxic.effect(api, probe) is None
    assert "KB/s through the proxy vs" in (toxic.shortfall or ""), toxic.shortfall


@pytest.mark.parametrize(("toxic", "attributes"),
                         [("timeout", {"timeout": 0}), ("reset_peer", {"timeout": 10})])
def test_a_timeout_or_reset_makes_requests_through_the_link_fail(link, toxic, attributes) -> None:
    api, probe = link
    injector = fault(toxic=toxic, **attributes)
    injector.add(api)
    assert "requests through the proxy fail" in (injector.effect(api, probe) or "")


@pytest.mark.parametrize("toxic", ["timeout", "reset_peer"])
def test_a_timeout_or_reset_that_lets_requests_through_is_not_in_effect(link, toxic) -> None:
    """Listed by the proxy, but with toxicity 0 it never applies: requests still pass."""
    api, probe = link
    api.add_toxic("redis", toxic, {"timeout": 0}, toxicity=0.0, name=f"gameday_{toxic}")
    injector = fault(toxic=toxic, timeout=0)
    assert injector.effect(api, probe) is None
    assert injector.shortfall == (
        f"link redis: a request through the proxy still succeeds with the {toxic} toxic"
    )


def test_a_data_limit_closes_a_connection_that_passes_more(link) -> None:
    api, probe = link
    injector = fault(toxic="limit_data", bytes=4000)
    injector.add(api)
    assert "over 4000 bytes is closed" in (injector.effect(api, probe) or ""), injector.shortfall
    api.update_toxic("redis", "gameday_limit_data", {"bytes": 10_000_000})
    assert injector.effect(api, probe) is None  # what the proxy holds, not what was asked
    assert "asked at most 4000 bytes" in (injector.shortfall or "")


def test_a_cut_link_fails_and_an_uncut_one_is_not_in_effect(link) -> None:
    api, probe = link
    cut = fault(toxic="cut")
    assert cut.effect(api, probe) is None
    assert "still carries requests" in (cut.shortfall or "")
    cut.add(api)
    assert "connections through the proxy fail" in (cut.effect(api, probe) or "")


def test_a_toxic_the_proxy_does_not_list_is_not_in_effect(link) -> None:
    api, probe = link
    toxic = fault(toxic="slicer", average_size=64)
    assert toxic.effect(api, probe) is None
    assert toxic.shortfall == "no slicer toxic listed on link redis"
    toxic.add(api)
    assert "its effect is not measured" in (toxic.effect(api, probe) or "")


def test_a_fault_not_in_effect_aborts_the_gameday_with_what_was_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bandwidth limit above what the link carries anyway passes the parameter check but
    changes nothing: the gameday is `aborted` with the measurement, the runbook is not judged."""
    runbook = tmp_path / "team.md"
    runbook.write_text((ROOT / "runbooks" / "incident-response.fixed.md").read_text())
    (tmp_path / "team.scenarios.toml").write_text(
        '[[scenario]]\nid = "redis-bandwidth"\ntitle = "a limit above the link\'s speed"\n'
        'section = "Performance Issues (SEV-2/SEV-3)"\n'
        'fault = { kind = "network", link = "redis", toxic = "bandwidth", rate = 1000000000 }\n'
        "detect_window_s = 3\nverify_window_s = 3\nhold_s = 0.5\n"
    )
    scenario = catalog.for_runbook(runbook)["redis-bandwidth"]
    # The real 30 s confirmation deadline, shortened: the measurement never gets there anyway.
    wait = Fault.wait_confirmed
    monkeypatch.setattr(Fault, "wait_confirmed", lambda self, stack: wait(self, stack, 2.0))
    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")

    def fake(env: dict[str, str]) -> Stack:
        return make_stack("fake", compose, env, ROOT / ".env.example")

    result = Gameday(parse_runbook(runbook), scenario, fake, step_timeout=10).run()
    assert result.verdict == Verdict.ABORTED, result.reason
    assert result.reason.startswith("fault not in effect: link redis: "), result.reason
    assert "KB/s direct, asked at most 1000000000 KB/s" in result.reason, result.reason
    assert result.ttd_s is None and not [s for s in result.steps if s.phase == "resolve"]


@pytest.fixture(scope="module")
def healthy_stack() -> Iterator[Stack]:
    """A healthy stack on the fake backend (the services in-process, the real fault proxy)."""
    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")
    stack = make_stack("fake", compose, {"TESTGEN_CHAOS_HOOKS": "1"}, ROOT / ".env.example")
    try:
        stack.up()
        yield stack
    finally:
        stack.close()


@pytest.mark.parametrize(
    ("fault", "measured"),
    [
        (PortConflict(), "port 8000 answers 200 OK, not the other process; testgen is running"),
        (LlmProviderFault(mode="server_error"),
         "openai provider in mode ok (asked server_error), 0 such answers served"),
        (MemoryPressure(0.9), "MiB, asked 90% of it (at least"),
        (ServiceKilled("redis"), "testgen-redis is running after the kill (asked: exited)"),
        (LinkToxic("postgres", toxic="latency", latency=300),
         "no latency toxic listed on link postgres"),
    ],
    ids=["port-conflict", "llm-provider", "memory-pressure", "service-killed", "network"],
)  # fmt: skip
def test_a_fault_never_injected_is_not_confirmed_and_says_what_it_measured(
    healthy_stack: Stack, fault: Fault, measured: str
) -> None:
    """Each injector's confirmation on a stack it never touched: no effect, and the measurement
    that shows it (the text of an `aborted` gameday's reason)."""
    assert fault.confirm(healthy_stack) is None
    assert measured in (fault.shortfall or ""), fault.shortfall


def test_a_port_nobody_squats_is_not_a_port_conflict_even_with_the_service_down(
    healthy_stack: Stack,
) -> None:
    """The service down is not enough: the port must answer as the other process does."""
    conflict = PortConflict()
    healthy_stack.stop("testgen")
    try:
        assert conflict.confirm(healthy_stack) is None
        shortfall = conflict.shortfall or ""
        assert shortfall.startswith("port 8000 answers nothing ("), shortfall
    finally:
        healthy_stack.start("testgen")


def test_an_echo_that_fails_without_the_proxy_too_is_not_measured(link) -> None:
    """The yardstick failing is no finding about the toxic: the evidence says it was not
    measured rather than blaming (or crediting) the fault."""
    api, probe = link
    deaf = LinkProbe("redis", "redis", probe.through, ("127.0.0.1", free_port()))
    for toxic in (fault(toxic="bandwidth", rate=40), fault(toxic="limit_data", bytes=100)):
        toxic.add(api)
        evidence = toxic.effect(api, deaf) or ""
        assert evidence.endswith("fails without the proxy too)"), (evidence, toxic.shortfall)


@pytest.mark.live  # the local backend's real PostgreSQL behind the fault proxy
def test_a_bandwidth_limit_on_the_database_link_is_measured_with_real_postgres() -> None:
    compose = ComposeFile(ROOT / "docker-compose.chaos.yml")
    stack = make_stack("local", compose, {}, ROOT / ".env.example")
    try:
        stack.up()
        probe = probe_for(stack, "postgres")
        assert probe.echo(100_000, direct=True) is not None  # the yardstick works
        with toxiproxy_for(stack) as api:
            limited, moot = fault_on("postgres", rate=200), fault_on("postgres", rate=10**9)
            limited.add(api)
            evidence = limited.effect(api, probe)
            assert evidence is not None and "asked at most 200 KB/s" in evidence, limited.shortfall
            limited.lift(stack)
            moot.add(api)
            assert moot.effect(api, probe) is None
            assert "the link is that slow without the toxic" in (moot.shortfall or "")
    finally:
        stack.close()


def fault_on(link: str, **attributes: Any) -> LinkToxic:
    return LinkToxic(link, toxic="bandwidth", **attributes)
