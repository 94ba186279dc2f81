"""results.json: written from GamedayResult records, read back exactly, strict on its schema."""

from __future__ import annotations

import json

import pytest

from harness.errors import BadInput
from harness.reports.json_results import SCHEMA_VERSION, RunInfo, read_run, write_run

from .factories import not_recovered, recovered


def test_a_run_round_trips_every_result_field(tmp_path):
    results = [recovered(), not_recovered("service-crash")]
    path = write_run(
        tmp_path, results, RunInfo.now(results, started_at="2026-11-26T17:47:00+00:00")
    )

    run = read_run(path)

    assert path.name == "results.json"
    assert [r.to_dict() for r in run.results] == [r.to_dict() for r in results]
    assert run.info.started_at == "2026-11-26T17:47:00+00:00"
    assert run.info.backend == "local"
    assert run.info.runbooks == ["runbooks/incident-response.md"]
    assert run.info.host_cores >= 1
    assert run.info.harness_version


def test_the_file_has_the_documented_top_level_shape(tmp_path):
    path = write_run(tmp_path / "results.json", [recovered()])
    data = json.loads(path.read_text())
    assert list(data) == ["schema_version", "run", "results"]
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert set(data["run"]) == {
        "started_at",
        "backend",
        "runbooks",
        "host_cores",
        "harness_version",
        "interrupted",
        "expected",  # what the suite expected of each planned gameday (the executor's)
        "shard",
    }
    assert data["results"][0]["impact"]["buckets"][0] == [0.0, 20, 0]


def test_a_secret_of_the_environment_never_reaches_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef123456")
    result = recovered()
    result.steps[0].stdout = "key is sk-live-abcdef123456"
    text = write_run(tmp_path, [result]).read_text()
    assert "sk-live-abcdef123456" not in text
    assert "[REDACTED]" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"schema_version": 1, "run": {}, "results": []}), "schema_version 1"),
        (json.dumps({"run": {}, "results": []}), "no schema_version"),
        (json.dumps([1, 2]), "no schema_version"),
        (json.dumps({"schema_version": 2, "run": {}, "results": {}}), "'results' list"),
        (
            json.dumps({"schema_version": 2, "run": {"colour": "red"}, "results": []}),
            "bad 'run' object",
        ),
        (
            json.dumps({"schema_version": 2, "run": {}, "results": [{"scenario": "x"}]}),
            "is not a GamedayResult",
        ),
    ],
)
def test_an_unusable_file_is_bad_input_in_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(BadInput) as info:
        read_run(path)
    text = str(info.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_a_result_of_another_result_schema_is_refused(tmp_path):
    data = recovered().to_dict()
    data["schema_version"] = 7
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 2, "run": {}, "results": [data]}))
    with pytest.raises(BadInput, match="result schema_version 7"):
        read_run(path)


def test_a_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no such results file"):
        read_run(tmp_path / "nope" / "results.json")


def test_a_run_directory_reads_its_results_json(tmp_path):
    write_run(tmp_path, [recovered()])
    assert read_run(tmp_path).results[0].scenario == "service-down"
