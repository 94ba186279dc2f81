"""Fault parameters are checked when a scenario file loads, against each fault's declared
`params` (and each toxic type's attributes): an unknown name, a wrong type, a value out of
range or not among the choices, a missing required one. Every error is one line naming the
file and the line that sets the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.faults import discover
from harness.faults.base import Fault
from harness.faults.network import TOXIC_ATTRIBUTES
from harness.faults.params import Param
from harness.run.scenario import ScenarioError
from harness.suite import catalog

HEADER = '# a team\'s scenarios\n[[scenario]]\nid = "x"\ntitle = "t"\nsection = "S"\n'
FIRST_PARAM_LINE = 8  # [scenario.fault] is line 6, kind line 7


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def load(tmp_path: Path, kind: str, params: dict[str, Any]) -> str:
    """Load a scenario whose fault is a `[scenario.fault]` table, one parameter a line; the
    error's text (ScenarioError expected)."""
    body = f'[scenario.fault]\nkind = "{kind}"\n'
    body += "".join(f"{k} = {_toml(v)}\n" for k, v in params.items())
    path = tmp_path / "team.scenarios.toml"
    path.write_text(HEADER + body)
    with pytest.raises(ScenarioError) as caught:
        catalog.load_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:"), message
    return message.removeprefix(f"{path}:")


# (kind, parameters, the bad key's position among them, words of the error)
BAD_FAULTS = [
    # unknown parameter
    ("service-killed", {"servic": "testgen"}, 0, "has no parameter 'servic' (did you mean"),
    ("process-crash", {"service": "testgen", "signal": 9}, 1, "has no parameter 'signal'"),
    ("missing-variable", {"varible": "X"}, 0, "has no parameter 'varible'"),
    ("port-conflict", {"port": 8000, "hold": 5}, 1, "has no parameter 'hold' (did you mean"),
    ("cache-bloat", {"payload": 48}, 0, "has no parameter 'payload'"),
    ("memory-pressure", {"share": 0.5}, 0, "has no parameter 'share'"),
    ("llm-provider", {"mode": "hang", "ratios": 0.5}, 1, "has no parameter 'ratios'"),
    # wrong type
    ("service-killed", {"service": 8000}, 0, "service must be a string, not 8000"),
    ("process-crash", {"service": ["testgen"]}, 0, "service must be a string"),
    ("missing-variable", {"variable": 1}, 0, "variable must be a string, not 1"),
    ("port-conflict", {"port": "8000"}, 0, "port must be an integer, not '8000'"),
    ("port-conflict", {"hold_s": "long"}, 0, "hold_s must be a number, not 'long'"),
    ("cache-bloat", {"payload_mb": 1.5}, 0, "payload_mb must be an integer, not 1.5"),
    ("memory-pressure", {"share_of_limit": True}, 0, "share_of_limit must be a number"),
    ("llm-provider", {"ratio": "half"}, 0, "ratio must be a number, not 'half'"),
    ("llm-provider", {"delay_ms": 2.5}, 0, "delay_ms must be an integer, not 2.5"),
    ("llm-provider", {"also": "anthropic"}, 0, "also must be a list of strings"),
    # out of range
    ("port-conflict", {"port": 70000}, 0, "port must be 1 to 65535, not 70000"),
    ("port-conflict", {"port": 0}, 0, "port must be 1 to 65535, not 0"),
    ("port-conflict", {"hold_s": 0.5}, 0, "hold_s must be 1 to 3600 s, not 0.5"),
    ("cache-bloat", {"payload_mb": 0}, 0, "payload_mb must be 1 to 512 MiB, not 0"),
    ("cache-bloat", {"payload_mb": 4096}, 0, "payload_mb must be 1 to 512 MiB, not 4096"),
    ("memory-pressure", {"share_of_limit": 1.5}, 0, "share_of_limit must be 0.05 to 0.95"),
    ("memory-pressure", {"share_of_limit": -0.85}, 0, "share_of_limit must be 0.05 to 0.95"),
    ("llm-provider", {"ratio": 0}, 0, "ratio must be 0.01 to 1, not 0"),
    ("llm-provider", {"delay_ms": -1}, 0, "delay_ms must be 1 to 600000 ms, not -1"),
    # not one of the choices, or not a name
    ("llm-provider", {"provider": "ollama"}, 0, "provider must be one of openai, anthropic"),
    ("llm-provider", {"mode": "ok"}, 0, "mode must be one of quota_exceeded"),
    ("llm-provider", {"also": ["anthropic", "azure"]}, 0, "not 'azure'"),
    ("service-killed", {"service": "test gen"}, 0, "service must be a name matching"),
    ("missing-variable", {"variable": "TESTGEN SECRET"}, 0, "variable must be a name matching"),
    ("network", {"link": "redis", "toxic": "noop"}, 1, "toxic must be one of latency"),
    ("network", {"link": "redis", "toxic": "latency", "latency": 5, "stream": "both"}, 3,
     "stream must be one of upstream, downstream, not 'both'"),
    ("network", {"link": 5432, "toxic": "cut"}, 0, "link must be a string, not 5432"),
]  # fmt: skip

# (toxic type, attributes after link and toxic, the bad key's position, words)
BAD_TOXICS = [
    ("latency", {"latencyy": 400}, 0, "(latency toxic) has no parameter 'latencyy' (did you "
     "mean 'latency'?); it takes: link, toxic, stream, latency, jitter"),
    ("latency", {"latency": -400}, 0, "(latency toxic): latency must be 1 to 600000 ms, not -400"),
    ("latency", {"latency": "fast"}, 0, "latency must be an integer, not 'fast'"),
    ("latency", {"latency": 0}, 0, "latency must be 1 to 600000 ms, not 0"),
    ("latency", {"latency": 100, "jitter": -5}, 1, "jitter must be 0 to 600000 ms, not -5"),
    ("latency", {"latency": 100, "jitter": 100}, 1, "jitter must be below latency (100)"),
    ("latency", {"jitter": 10}, -1, "(latency toxic) needs latency"),
    ("bandwidth", {"rate": 0}, 0, "(bandwidth toxic): rate must be 1 to 1000000000 KB/s, not 0"),
    ("bandwidth", {"rate": "1MB"}, 0, "rate must be an integer, not '1MB'"),
    ("bandwidth", {"rate": 100, "latency": 5}, 1, "(bandwidth toxic) has no parameter 'latency'"),
    ("bandwidth", {}, -1, "(bandwidth toxic) needs rate"),
    ("timeout", {"timeout": -1}, 0, "(timeout toxic): timeout must be 0 to 3600000 ms, not -1"),
    ("timeout", {"timout": 100}, 0, "has no parameter 'timout' (did you mean 'timeout'?)"),
    ("timeout", {"timeout": 1.5}, 0, "timeout must be an integer, not 1.5"),
    ("reset_peer", {"timeout": 3_600_001}, 0, "(reset_peer toxic): timeout must be 0 to 3600000"),
    ("reset_peer", {"delay": 5}, 0, "(reset_peer toxic) has no parameter 'delay'"),
    ("slow_close", {"delay": 0}, 0, "(slow_close toxic): delay must be 1 to 3600000 ms, not 0"),
    ("slow_close", {"delay": "1s"}, 0, "delay must be an integer, not '1s'"),
    ("slow_close", {"timeout": 5}, 0, "(slow_close toxic) has no parameter 'timeout'"),
    ("slicer", {"average_size": 0}, 0, "average_size must be 1 to 1048576 bytes, not 0"),
    ("slicer", {"average_size": 64, "size_variation": 64}, 1,
     "size_variation must be below average_size (64)"),
    ("slicer", {"average_size": 64, "delay": -1}, 1, "delay must be 0 to 10000000 µs, not -1"),
    ("slicer", {"average_size": 64, "size": 3}, 1, "(slicer toxic) has no parameter 'size'"),
    ("slicer", {"average_size": [64]}, 0, "average_size must be an integer"),
    ("limit_data", {"bytes": -1}, 0, "(limit_data toxic): bytes must be 0 to 1099511627776 bytes"),
    ("limit_data", {"byte": 10}, 0, "has no parameter 'byte' (did you mean 'bytes'?)"),
    ("limit_data", {"bytes": "10k"}, 0, "bytes must be an integer, not '10k'"),
    ("cut", {"latency": 100}, 0, "(cut toxic) has no parameter 'latency'"),
]  # fmt: skip


def _line(params: dict[str, Any], position: int) -> int:
    return FIRST_PARAM_LINE + position if position >= 0 else FIRST_PARAM_LINE - 1


@pytest.mark.parametrize(("kind", "params", "position", "words"), BAD_FAULTS,
                         ids=[f"{k}-{w[:40]}" for k, _, _, w in BAD_FAULTS])  # fmt: skip
def test_a_bad_fault_parameter_names_the_line_that_sets_it(
    tmp_path: Path, kind: str, params: dict[str, Any], position: int, words: str
) -> None:
    message = load(tmp_path, kind, params)
    assert message.startswith(f"{_line(params, position)}: fault '{kind}'"), message
    assert words in message, message


@pytest.mark.parametrize(("toxic", "attributes", "position", "words"), BAD_TOXICS,
                         ids=[f"{t}-{w[:40]}" for t, _, _, w in BAD_TOXICS])  # fmt: skip
def test_a_bad_toxic_attribute_names_the_line_that_sets_it(
    tmp_path: Path, toxic: str, attributes: dict[str, Any], position: int, words: str
) -> None:
    params = {"link": "postgres", "toxic": toxic, **attributes}
    message = load(tmp_path, "network", params)
    line = _line(params, position + 2 if position >= 0 else -1)
    assert message.startswith(f"{line}: fault 'network' ({toxic} toxic)"), message
    assert words in message, message


def test_every_toxic_type_and_fault_kind_has_a_bad_case() -> None:
    """The tables above cover each declared toxic type and fault kind (a new one needs rows)."""
    assert {t for t, *_ in BAD_TOXICS} == set(TOXIC_ATTRIBUTES)
    assert {k for k, *_ in BAD_FAULTS} == set(catalog.fault_kinds())


def test_the_second_table_of_a_fault_array_is_pointed_at(tmp_path: Path) -> None:
    path = tmp_path / "perf.scenarios.toml"
    path.write_text(
        HEADER + "fault = [\n"
        '  { kind = "network", link = "postgres", toxic = "latency", latency = 300 },\n'
        '  { kind = "network", link = "llm", toxic = "latency", latencyy = 1500 },\n'
        "]\n"
    )
    with pytest.raises(ScenarioError, match=rf"^{path}:8: fault 'network' \(latency toxic\) "
                       r"has no parameter 'latencyy'"):  # fmt: skip
        catalog.load_file(path)


def test_an_inline_fault_table_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "inline.scenarios.toml"
    path.write_text(
        HEADER + "severity = 2\n"
        'fault = { kind = "network", link = "redis", toxic = "latency", latency = -400 }\n'
        'lift = "after-detection"\n'
    )
    with pytest.raises(ScenarioError, match=rf"^{path}:7: .*latency must be 1 to 600000 ms"):
        catalog.load_file(path)


def test_good_parameters_of_every_kind_load(tmp_path: Path) -> None:
    path = tmp_path / "good.scenarios.toml"
    faults = [
        'kind = "network", link = "redis", toxic = "slicer", average_size = 64, '
        "size_variation = 8, delay = 10",
        'kind = "network", link = "postgres", toxic = "bandwidth", rate = 50, stream = "upstream"',
        'kind = "network", link = "postgres", toxic = "limit_data", bytes = 0',
        'kind = "llm-provider", mode = "slow", delay_ms = 3000, ratio = 1, also = ["anthropic"]',
        'kind = "port-conflict", port = 8000, hold_s = 60',
        'kind = "memory-pressure", share_of_limit = 0.5',
    ]
    path.write_text("".join(
        f'[[scenario]]\nid = "s{i}"\ntitle = "t"\nsection = "S"\nfault = {{ {f} }}\n'
        for i, f in enumerate(faults)
    ))  # fmt: skip
    assert len(catalog.load_file(path)) == len(faults)


def test_every_registered_fault_declares_its_parameters() -> None:
    """Registration refuses a fault whose `params` differ from what its `__init__` takes."""
    assert set(discover()) >= set(catalog.fault_kinds())
    with pytest.raises(TypeError, match=r"'undeclared-example': params declares \['service'\] "
                       r"but __init__ takes \['service', 'signal'\]"):  # fmt: skip

        class Undeclared(Fault):
            kind = "undeclared-example"
            params = (Param("service", str, "the service"),)

            def __init__(self, service: str = "testgen", signal: int = 9) -> None:
                self.service = service

    assert "undeclared-example" not in Fault.registry


def test_declared_toxic_attributes_are_the_fault_proxys() -> None:
    """The attributes a scenario may set are those the fault proxy (Toxiproxy's API) takes."""
    from harness.faultproxy.toxics import TOXICS

    for toxic, attributes in TOXIC_ATTRIBUTES.items():
        if toxic != "cut":
            assert [a.name for a in attributes] == list(TOXICS[toxic].fields), toxic


def test_the_readme_lists_every_declared_parameter() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("<!-- fault-parameters:")
    table = readme[readme.index("\n", start) + 1 : readme.index("<!-- /fault-parameters -->")]
    assert table == catalog.parameter_table()
