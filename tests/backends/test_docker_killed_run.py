"""A docker gameday SIGKILLed at any phase, its reaper killed too, leaves nothing once the
next docker stack starts: containers, network, volumes, the egress rule, the temp dir, the
record, and the host processes the harness started (the port-conflict squatter).

And the sweep never takes a live run's resources: a stack of another live process keeps
all of its own while a new stack sweeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .support import COMPOSE, ROOT, require_backend

pytestmark = pytest.mark.docker

# "starting": the record and a first container exist, `up` has not finished.
PHASES = ["starting", "up", "baseline", "inject", "fault-confirmed", "detected"]
SQUATTING = {"inject", "fault-confirmed", "detected"}


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A registry of runs of this test's own, shared with the gamedays it starts."""
    path = tmp_path / "runs"
    monkeypatch.setenv("GAMEDAY_DOCKER_RUNS", str(path))
    yield path


def leftovers(stack_id: str, stack_dir: str) -> list[str]:
    import docker

    from harness.backends.docker import runs
    from harness.backends.docker.labels import stack_filter
    from harness.backends.docker.leftovers import engine_rules

    client = docker.from_env()
    try:
        flt = stack_filter(stack_id)
        found = [f"container {c['Id'][:12]}" for c in client.api.containers(all=True, filters=flt)]
        found += [f"network {n['Name']}" for n in client.api.networks(filters=flt)]
        found += [f"volume {v['Name']}"
                  for v in client.api.volumes(filters=flt).get("Volumes") or []]
        # On the engine's host: here, or a remote engine's (through a helper there).
        rules = engine_rules(client)
    finally:
        client.close()
    found += [f"iptables rule on {br}" for br, sid in rules if sid == stack_id]
    found += [f"process {p.pid}" for p in runs.host_processes(stack_id, stack_dir)]
    if stack_dir and Path(stack_dir).exists():
        found.append(f"dir {stack_dir}")
    if (runs.registry() / f"{stack_id}.json").exists():
        found.append("record")
    return found


def _reached(phase: str, phase_file: Path, registry: Path) -> bool:
    if phase == "starting":
        records = list(registry.glob("*.json"))
        return bool(records) and any(
            item.startswith("container") for item in leftovers(records[0].stem, "")
        )
    return phase_file.exists() and phase in phase_file.read_text().split()


@pytest.mark.parametrize("phase", PHASES)
def test_a_sigkilled_gameday_and_reaper_leave_nothing_after_the_next_start(
    phase: str, tmp_path: Path, registry: Path
) -> None:
    require_backend("docker")
    from harness.backends.docker import DockerStack, runs
    from harness.compose import ComposeFile

    phase_file = tmp_path / "phases"
    env = {**os.environ, "GAMEDAY_PHASE_FILE": str(phase_file),
           "TESTCONTAINERS_RYUK_DISABLED": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(ROOT / "scenarios"), "-m", "gameday", "-q",
         "-p", "no:cacheprovider", "-p", "no:randomly", "--backend", "docker",
         "--runbook", str(ROOT / "runbooks" / "incident-response.md"), "-k", "port_conflict"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _reached(phase, phase_file, registry):
            assert proc.poll() is None, "the gameday ended before reaching the phase"
            assert time.monotonic() < deadline, f"phase {phase} never reached"
            time.sleep(0.02)
        (record,) = registry.glob("*.json")
        stack_id = record.stem
        stack_dir = runs.Record(**json.loads(record.read_text())).dir
        reapers = [p for p in psutil.process_iter(["cmdline"])
                   if "harness.backends.docker.reaper" in (p.info["cmdline"] or [])
                   and stack_id in (p.info["cmdline"] or [])]
        assert reapers, "the stack's reaper was not found"
        for reaper in reapers:  # first, so it cannot clean up after the harness
            reaper.kill()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        psutil.wait_procs(reapers, timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = leftovers(stack_id, stack_dir)
    assert left, "nothing was left to sweep: the test would prove nothing"
    # From "inject" on the port squatter usually lives (a resolution step may kill it first,
    # on a loaded machine the run can get that far): if it does, the sweep must kill it.
    squatting = phase in SQUATTING and any(item.startswith("process") for item in left)
    print(f"left at {phase}: {left}; squatter alive: {squatting}")

    survivor = DockerStack(ComposeFile(COMPOSE))  # its start sweeps the dead run
    try:
        assert leftovers(stack_id, stack_dir) == []
        # Its own sweep did it: only it reads this test's registry, so the record it names is
        # this run's (another stack on the engine, a CI lane beside this suite, may have
        # swept the dead run's containers and temp dir first: those sweeps are engine-wide).
        assert any(
            "dead gameday runs" in note and f"record of {stack_id}" in note
            for note in survivor.info.notes
        ), survivor.info.notes
    finally:
        survivor.close()
    assert leftovers(survivor.id, str(survivor.dir)) == []


def test_the_sweep_never_takes_a_live_runs_resources(registry: Path) -> None:
    """A stack owned by another live process (its record locked) keeps its containers,
    network, volume, rule, dir and squatter while a new stack's start sweeps."""
    require_backend("docker")
    from harness.backends.docker import DockerStack
    from harness.compose import ComposeFile

    script = (
        "import sys, time\n"
        "from harness.backends.docker import DockerStack\n"
        "from harness.compose import ComposeFile\n"
        "from harness.faults.port_conflict import PortConflict\n"
        "s = DockerStack(ComposeFile(sys.argv[1]))\n"
        "s.create('postgres', s.resolve_config()['postgres'])\n"
        "s.create('testgen', s.resolve_config()['testgen'])\n"
        "assert s.wait_healthy('testgen', 90)\n"
        "PortConflict().inject(s)\n"
        "print(s.id, s.dir, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "true"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(COMPOSE)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        stack_id, stack_dir = proc.stdout.readline().split()
        before = leftovers(stack_id, stack_dir)
        assert any(i.startswith("process") for i in before), before
        assert any(i.startswith("iptables") for i in before), before
        other = DockerStack(ComposeFile(COMPOSE))
        other.close()
        assert leftovers(stack_id, stack_dir) == before
    finally:
        proc.send_signal(signal.SIGTERM)  # the live run closes its stack itself
        proc.wait(60)
    assert leftovers(stack_id, stack_dir) == []
