"""`gameday lint`: steps the bridge cannot run, names the compose file lacks, unexported metrics."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from harness.runbook.lint import exported_metrics, lint_runbook
from harness.runbook.parse import parse_runbook
from harness.shell.manual import manual_reason

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "runbooks" / "incident-response.md"
COMPOSE = REPO / "docker-compose.chaos.yml"


def test_lint_lists_every_manual_step_with_its_reason(capsys):
    expected = [
        (s.line, manual_reason(s.command, s.comment))
        for section in parse_runbook(RUNBOOK).sections
        for s in section.steps
        if manual_reason(s.command, s.comment) is not None
    ]
    assert len(expected) >= 10

    assert main(["lint", str(RUNBOOK)]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("Steps the bridge cannot run (reported manual in every gameday):")
    end = next(i for i, ln in enumerate(out) if ln.startswith("Names the compose file"))
    manual = out[start:end]
    listed = [
        (int(ln.split()[1]), manual[i + 1].strip())
        for i, ln in enumerate(manual)
        if ln.strip().startswith("line ")
    ]
    assert listed == [(line, reason.splitlines()[0]) for line, reason in sorted(expected)]
    assert f"{len(expected)} the bridge cannot run" in out[0]


def test_lint_finds_the_names_the_compose_file_does_not_have():
    report = lint_runbook(RUNBOOK, COMPOSE)
    found = {(f.kind, f.name): f for f in report.missing}
    assert set(found) == {
        ("host", "grafana"),  # dashboards in comments and in Tools and Resources
        ("host", "prometheus"),  # ping prometheus
        ("file", "/var/log/testgen/error.log"),
        ("file", "/var/log/nginx/access.log"),
    }
    # The team's deployment publishes Redis on the host (6379), so `curl localhost:6379` and
    # `redis-cli` on the host name a port the stack has: not missing.
    assert ("port", "localhost:6379") not in found
    assert (
        "configured: /var/log/testgen/app.log"
        in found[("file", "/var/log/testgen/error.log")].reason
    )


def test_the_metrics_the_runbook_greps_for_are_exported():
    report = lint_runbook(RUNBOOK, COMPOSE)
    assert [(m.name, m.line, m.exported) for m in report.metrics] == [
        ("active_requests", 102, True),
        ("llm_requests_total", 251, True),
    ]


def test_exported_metric_names_come_from_the_service_source():
    names = exported_metrics()
    assert {
        "http_requests_total",
        "active_requests",
        "http_request_duration_seconds_bucket",
        "llm_requests_total",
        "process_resident_memory_bytes",
    } <= set(names)


EXTRA = """
### Lint fixture
```bash
# wrong names
docker logs testgen-api --tail 5
docker-compose restart api
docker-compose up -d --scale worker=2
docker run --rm testgen:nightly env
docker exec testgen-copilot curl http://redis:6380/
curl http://localhost:8000/metrics | grep queue_depth
curl http://localhost:9090/metrics | grep anything
cat config/missing.yaml
tail -5 /var/log/testgen/app.log
```
"""


def test_lint_reports_wrong_containers_services_images_ports_files_and_metrics(tmp_path):
    runbook = tmp_path / "runbook.md"
    runbook.write_text(
        RUNBOOK.read_text().replace(
            "## Post-Incident Procedures", EXTRA + "\n## Post-Incident Procedures"
        )
    )
    report = lint_runbook(runbook, COMPOSE)
    names = {(f.kind, f.name) for f in report.missing}
    assert {
        ("container", "testgen-api"),
        ("service", "api"),
        ("service", "worker"),
        ("image", "testgen:nightly"),
        ("port", "redis:6380"),
        ("port", "localhost:9090"),
        ("file", "config/missing.yaml"),
    } <= names
    assert ("file", "/var/log/testgen/app.log") not in names
    assert [m.name for m in report.unexported] == ["queue_depth"]


def test_lint_json_and_strict(tmp_path, capsys):
    assert main(["lint", str(RUNBOOK), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"manual", "missing", "metrics", "exported_metrics"} <= set(data)
    assert main(["lint", str(RUNBOOK), "--strict"]) == 1  # grafana & co. are missing
