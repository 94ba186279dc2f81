"""Each drift rule on a small deployment: the rule fires with the effect it names, and the
same steps against a deployment (or a step) that does not drift give no such finding.

The "good" side of each row is the negative control: a rule that fired on everything would
pass the first assertion and fail the second; a removed rule fails the first."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.deployment.drift import drift_report
from harness.deployment.report import (
    BLOCKS_UP,
    DESTROYS_DATA,
    FAILS,
    NEVER_DETECTS,
    SILENT_NO_OP,
    DriftReport,
)
from harness.deployment.rules import RULES

RUNBOOK = """# Runbook

## Incident Severity Levels

### SEV-1: Critical (Service Down)
- **Definition**: all users
- **Response Time**: Immediate (< 5 minutes)
- **Escalation**: page

## Common Incident Scenarios

### Scenario 1: Checks

**Resolution Steps**:
```bash
{steps}
```
"""
STEPS_LINE = 16  # the first step's line in RUNBOOK

BASE: dict[str, Any] = {
    "services": {
        "app": {
            "image": "acme/app:1",
            "container_name": "app",
            "command": ["uvicorn", "app:main", "--port", "8000"],
            "ports": ["8000:8000"],
            "environment": {"MODE": "${MODE:-a}"},
            "volumes": ["/var/log/app:/var/log/app"],
            "restart": "unless-stopped",
        },
        "redis": {"image": "redis:7-alpine", "container_name": "app-redis", "ports": ["6379:6379"]},
    }
}
DOCKERFILE = 'FROM python:3.12-slim AS base\nRUN apt-get install -y curl\nCMD ["bash"]\n'


def built(compose: dict[str, Any]) -> None:
    """The app built from the deployment's Dockerfile instead of a pulled image."""
    app = compose["services"]["app"]
    del app["image"]
    app["build"] = {"context": "."}


@dataclass
class Case:
    rule: str
    effect: str
    steps: str
    bad: Callable[[dict[str, Any]], Any] = lambda c: None
    good: Callable[[dict[str, Any]], Any] | None = lambda c: None
    good_steps: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    good_files: dict[str, str] | None = None
    fence: bool = False

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.effect}"


def _svc(name: str, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def change(c: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is None:
                c["services"][name].pop(key, None)
            else:
                c["services"][name][key] = value

    return change


def _both(*changes: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def change(c: dict[str, Any]) -> None:
        for f in changes:
            f(c)

    return change


PASSWORD = _svc("redis", command="redis-server --requirepass ${REDIS_PASSWORD:-s3cret-pw}")
GPU = {"resources": {"reservations": {"devices": [{"driver": "nvidia", "capabilities": ["gpu"]}]}}}

CASES = [
    Case("unparseable-file", FAILS, "docker-compose ps", fence=True, good=None),
    Case(
        "unparseable-file",
        BLOCKS_UP,
        "docker-compose up -d",
        bad=built,
        good=built,
        files={"Dockerfile": "```dockerfile\n" + DOCKERFILE + "```\n"},
        good_files={"Dockerfile": DOCKERFILE},
    ),
    Case(
        "build-target-missing",
        BLOCKS_UP,
        "docker-compose up -d",
        bad=_both(built, lambda c: c["services"]["app"]["build"].update(target="production")),
        good=_both(built, lambda c: c["services"]["app"]["build"].update(target="base")),
        files={"Dockerfile": DOCKERFILE},
    ),
    Case(
        "unknown-service",
        FAILS,
        "docker-compose restart web",
        good_steps="docker-compose restart app",
    ),
    Case(
        "unknown-service",
        FAILS,
        "docker-compose up -d --scale web=1",
        good_steps="docker-compose up -d --scale app=1",
    ),
    Case(
        "unknown-container",
        FAILS,
        "docker logs web --tail 5",
        good_steps="docker logs app --tail 5",
    ),
    Case(
        "grep-finds-no-container", FAILS, "docker ps | grep web", good_steps="docker ps | grep app"
    ),
    Case(
        "unknown-image",
        FAILS,
        "docker run --rm web:latest env",
        good_steps="docker run --rm acme/app:1 env",
    ),
    Case(
        "no-server-on-port",
        FAILS,
        "curl -f http://localhost:8000/health",
        bad=_svc("app", command="bash"),
    ),
    Case(
        "no-server-on-port",
        FAILS,
        "curl -f http://localhost:8000/health",
        bad=_both(built, _svc("app", command=["--help"])),
        good=built,
        files={"Dockerfile": DOCKERFILE + 'ENTRYPOINT ["acme"]\n'},
        good_files={"Dockerfile": DOCKERFILE.replace('["bash"]', '["uvicorn", "app:main"]')},
    ),
    Case(
        "no-server-on-port",
        FAILS,
        "curl -f http://localhost:8000/health",
        bad=_both(built, _svc("app", command=None)),
        good=built,
        files={"Dockerfile": 'FROM python:3.12-slim\nENTRYPOINT ["acme"]\n'},
    ),
    Case(
        "port-not-published",
        FAILS,
        "curl -f http://localhost:9000/health",
        good_steps="curl -f http://localhost:8000/health",
    ),
    Case("port-not-published", FAILS, "redis-cli ping", bad=_svc("redis", ports=["6380:6379"])),
    Case(
        "not-http-port",
        FAILS,
        "curl http://localhost:6379/",
        good_steps="curl http://localhost:8000/",
    ),
    Case(
        "unknown-network-host",
        FAILS,
        "docker exec app pg_isready -h postgres",
        good_steps="docker exec app pg_isready -h redis",
    ),
    Case("host-cannot-resolve", FAILS, "ping redis", good_steps="ping localhost"),
    Case(
        "profile-excludes",
        SILENT_NO_OP,
        "docker-compose up -d\nredis-cli ping",
        bad=_svc("redis", profiles=["cache"]),
    ),
    Case(
        "depends-on-profiled",
        BLOCKS_UP,
        "docker-compose up -d",
        bad=_both(_svc("redis", profiles=["cache"]), _svc("app", depends_on=["redis"])),
        good=_svc("app", depends_on=["redis"]),
    ),
    Case(
        "redis-noauth",
        SILENT_NO_OP,
        "redis-cli FLUSHALL",
        bad=PASSWORD,
        good=PASSWORD,
        good_steps='redis-cli -a "$REDIS_PASSWORD" FLUSHALL',
    ),
    Case(
        "redis-noauth",
        SILENT_NO_OP,
        "redis-cli FLUSHALL",
        bad=PASSWORD,
        good=PASSWORD,
        good_steps="export REDISCLI_AUTH=x\nredis-cli FLUSHALL",
    ),
    Case(
        "redis-noauth",
        SILENT_NO_OP,
        "redis-cli FLUSHALL",
        bad=PASSWORD,
        good=PASSWORD,
        good_steps='REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli FLUSHALL',
    ),
    Case("redis-noauth", NEVER_DETECTS, "redis-cli info memory", bad=PASSWORD),
    Case("redis-noauth", NEVER_DETECTS, "docker exec app-redis redis-cli ping", bad=PASSWORD),
    Case(
        "redis-healthcheck-noauth",
        NEVER_DETECTS,
        "docker-compose ps",
        bad=_both(PASSWORD, _svc("redis", healthcheck={"test": ["CMD", "redis-cli", "ping"]})),
        good=_both(
            PASSWORD, _svc("redis", healthcheck={"test": ["CMD", "redis-cli", "-a", "x", "ping"]})
        ),
    ),
    Case(
        "export-not-interpolated",
        SILENT_NO_OP,
        "export OTHER=1\ndocker-compose up -d",
        good_steps="export MODE=b\ndocker-compose up -d",
    ),
    Case(
        "export-not-applied",
        SILENT_NO_OP,
        "export MODE=b\ndocker-compose up -d redis",
        good_steps="export MODE=b\ndocker-compose up -d app",
    ),
    Case(
        "export-not-applied",
        SILENT_NO_OP,
        "export MODE=b\ndocker-compose restart app",
        good_steps="export MODE=b\ndocker-compose up -d",
    ),
    Case(
        "host-file-not-mounted",
        FAILS,
        "tail -5 /var/log/other/app.log",
        good_steps="tail -5 /var/log/app/app.log",
    ),
    Case(
        "host-file-not-mounted",
        NEVER_DETECTS,
        "grep x /var/log/other/a.log | tail -1",
        good_steps="grep x /var/log/app/a.log | tail -1",
    ),
    Case(
        "exec-tool-missing",
        FAILS,
        "docker exec app pg_isready -h redis",
        bad=built,
        good=built,
        files={"Dockerfile": DOCKERFILE},
        good_files={"Dockerfile": DOCKERFILE.replace("curl", "curl postgresql-client")},
    ),
    Case(
        "exec-into-restarting",
        FAILS,
        "docker exec app ls",
        bad=_svc("app", command=["acme", "--help"]),
    ),
    Case(
        "make-target-missing",
        FAILS,
        "make health-check",
        files={"Makefile": "up:\n\tdocker compose up -d\n"},
        good_files={
            "Makefile": "up:\n\tdocker compose up -d\nhealth-check:\n\tcurl -f localhost:8000\n"
        },
    ),
    Case("make-target-missing", FAILS, "make health-check", good=None),
    Case(
        "systemd-unit-missing",
        FAILS,
        "systemctl status app",
        good_files={"app.service": "[Service]\nExecStart=/usr/bin/app\n"},
    ),
    Case(
        "kubernetes-missing",
        FAILS,
        "kubectl get pods -n acme",
        good_files={"k8s.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: acme\n"},
    ),
    Case("gpu-reservation", BLOCKS_UP, "docker-compose up -d", bad=_svc("app", deploy=GPU)),
    Case(
        "pull-policy-always",
        BLOCKS_UP,
        "docker-compose up -d",
        bad=_svc("app", pull_policy="always"),
        good=_svc("app", pull_policy="missing"),
    ),
    Case(
        "fixed-subnet",
        BLOCKS_UP,
        "docker-compose up -d",
        bad=lambda c: c.update(networks={"n": {"ipam": {"config": [{"subnet": "172.20.0.0/16"}]}}}),
        good=lambda c: c.update(networks={"n": {"driver": "bridge"}}),
    ),
    Case(
        "fixed-network-name",
        BLOCKS_UP,
        "docker-compose up -d",
        bad=lambda c: c.update(networks={"n": {"name": "acme-net"}}),
        good=lambda c: c.update(networks={"n": {"driver": "bridge"}}),
    ),
    Case(
        "down-volumes",
        DESTROYS_DATA,
        "docker-compose down -v",
        bad=lambda c: c.update(volumes={"data": None}),
        good_steps="docker-compose down",
    ),
    Case(
        "scale-fixed-name",
        FAILS,
        "docker-compose up -d --scale app=2",
        good=_svc("app", container_name=None),
    ),
]


def _write(directory: Path, compose: dict[str, Any], files: dict[str, str], fence: bool) -> None:
    directory.mkdir()
    text = yaml.safe_dump(compose, sort_keys=False)
    if fence:
        text = "```yaml\n" + text + "```\n"
    (directory / "docker-compose.yml").write_text(text)
    for name, content in files.items():
        (directory / name).write_text(content)


def run_case(
    tmp_path: Path,
    name: str,
    change: Callable[[dict[str, Any]], Any],
    steps: str,
    files: dict[str, str],
    fence: bool = False,
) -> DriftReport:
    compose = copy.deepcopy(BASE)
    change(compose)
    _write(tmp_path / name, compose, files, fence)
    runbook = tmp_path / f"{name}.md"
    runbook.write_text(RUNBOOK.format(steps=steps))
    return drift_report(tmp_path / name, [runbook])


def _hits(report: DriftReport, case: Case) -> list[Any]:
    return [f for f in report.findings if f.rule == case.rule and f.effect == case.effect]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.id}-{i}" for i, c in enumerate(CASES)])
def test_the_rule_fires_on_the_drift_and_not_without_it(tmp_path: Path, case: Case) -> None:
    bad = run_case(tmp_path, "bad", case.bad, case.steps, case.files, case.fence)
    hits = _hits(bad, case)
    assert hits, f"{case.rule} did not fire: {[f.rule for f in bad.findings]}"
    finding = hits[0]
    assert finding.runbook and finding.runbook[0].line >= STEPS_LINE  # the runbook line
    assert finding.deployment and all(d.path for d in finding.deployment)  # the deployment file
    assert bad.exit_status == 1
    if case.good is None and case.good_steps is None and case.good_files is None:
        return
    good = run_case(
        tmp_path,
        "good",
        case.good or (lambda c: None),
        case.good_steps or case.steps,
        case.good_files if case.good_files is not None else case.files,
    )
    assert not _hits(good, case), [f.message for f in _hits(good, case)]


def test_every_rule_has_a_table_row() -> None:
    assert set(RULES) == {c.rule for c in CASES}


def test_a_clean_deployment_has_no_drift(tmp_path: Path) -> None:
    steps = "\n".join(
        [
            "docker ps | grep app",
            "docker logs app --tail 5",
            "curl -f http://localhost:8000/health",
            "docker-compose restart app",
            "redis-cli ping",
            "tail -5 /var/log/app/app.log",
            "export MODE=b",
            "docker-compose up -d app",
        ]
    )
    report = run_case(tmp_path, "clean", lambda c: None, steps, {})
    assert report.findings == [] and report.exit_status == 0


def test_secrets_in_deployment_lines_are_masked(tmp_path: Path) -> None:
    report = run_case(tmp_path, "pw", PASSWORD, "redis-cli FLUSHALL", {})
    text = str(report.to_dict())
    assert "s3cret-pw" not in text and "[REDACTED]" in text
