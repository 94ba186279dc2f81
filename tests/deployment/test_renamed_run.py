"""The renamed fixture (ACME: `api` on 9000, `cache`, `db`) under its own chaos layer: the
stack keeps the deployment's names, only the harness's parts are told which service plays
which role, and a live run shows the TestGen runbook's steps failing for the renamed reasons."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compose import ComposeFile
from harness.errors import ComposeError
from harness.suite.plugin import require_services

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "deployments" / "renamed-chaos.yml"
DEPLOYMENT = REPO / "deployments" / "renamed"


def test_the_layer_keeps_the_deployments_names_and_maps_only_roles():
    compose = ComposeFile(LAYER, deployment=DEPLOYMENT)
    assert "testgen" not in compose.service_names  # `docker-compose restart testgen` must fail
    assert {"api", "cache", "db"} <= set(compose.service_names)
    assert compose.spec("api")["container_name"] == "acme-api"
    assert compose.spec("api")["ports"] == ["9000:9000"]
    assert compose.role("testgen") == "api" and compose.role("llm") == "llm"
    require_services(compose, ())  # the roles are played, so a gameday can start
    assert any("acme/testgen-api" in s.reason for s in compose.stand_ins())


def test_the_testgen_layer_still_refuses_the_renamed_deployment():
    with pytest.raises(ComposeError, match="does not define"):
        ComposeFile(REPO / "docker-compose.chaos.yml", deployment=DEPLOYMENT)


def test_a_role_mapped_onto_a_missing_service_is_bad_input(tmp_path):
    layer = tmp_path / "layer.yml"
    layer.write_text(LAYER.read_text().replace("testgen: api", "testgen: apx").replace(
        "x-deployment: renamed", f"x-deployment: {DEPLOYMENT}"))
    with pytest.raises(ComposeError, match="x-roles: testgen: no service 'apx'"):
        ComposeFile(layer)


@pytest.mark.live
def test_service_down_is_not_recovered_for_the_renamed_reasons(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--backend", "local",
         "--deployment", str(DEPLOYMENT), "--compose", str(LAYER), "--scenario", "service-down",
         "--runbook", str(REPO / "runbooks" / "incident-response.md"), "--out", str(out),
         "-j", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=400,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    (result,) = json.loads((out / "results.json").read_text())["results"]
    assert result["verdict"] in ("undetected", "not-recovered"), result["reason"]
    # Detection: the runbook's curl of :8000 fails on the healthy stack (the API is on 9000).
    if result["verdict"] == "undetected":
        assert "curl http://localhost:8000/health (exit 7" in result["reason"]
    # Resolution: the runbook restarts a service the deployment does not have.
    finding = result["resolution_finding"] or result
    assert finding["verdict"] == "not-recovered"
    assert "`docker-compose restart testgen` exited 1: no such service: testgen" in (
        finding["reason"]
    )
    assert "acme-api Exited" in finding["reason"]  # the fault hit ACME's API, observed down
