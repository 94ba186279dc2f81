"""What a finished run left behind on this host and engine: CI's last check.

    python -m harness.backends.docker.leftovers [--run NAME] [--settle SECONDS]

Checks the engine DOCKER_HOST names (a remote one too: its host's egress rules are listed
through a short-lived helper container there, enginehost.py). Lists every container,
network and volume labelled by a gameday stack (with `--run`, only
those of that run: `GAMEDAY_RUN` when the stacks were made, so a second suite running on
the same engine at the same time is not counted), every egress rule of a stack that has
no network any more, every record of a dead docker stack, every stack temp dir under
$TMPDIR whose process is gone, and every host process started for a stack of the run.
Things still going away (a reaper finishing) get `--settle` seconds. Exit status 1 when
anything is left, else 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import docker
import psutil

from harness.backends.docker import egress, enginehost, runs
from harness.backends.docker import labels as lbl
from harness.backends.docker.cleanup import engine_resources, live_stack_ids
from harness.backends.docker.location import locate


def find(client: docker.DockerClient, run: str | None) -> list[str]:
    flt = {"label": [f"{lbl.RUN}={run}"]} if run else lbl.stack_filter()
    found = engine_resources(client, flt)
    live = live_stack_ids(client)
    rules = engine_rules(client)
    found += [f"iptables rule of {sid} on {br}" for br, sid in rules if sid not in live]
    for path in runs.registry().glob("*.json"):
        if runs.owner_gone(path):
            found.append(f"record of dead stack {path.stem}")
    found += [f"temp dir {p}" for p in _dead_stack_dirs()]
    docker_ids = {p.stem for p in runs.registry().glob("*.json")} | live
    found += [f"process {pid}" for pid in _run_processes(run, docker_ids)]
    return found


def engine_rules(client: docker.DockerClient) -> list[tuple[str, str]]:
    """The egress rules on the engine's host: here, or through a helper on a remote one."""
    if not locate().remote:
        return egress.rules()
    with enginehost.transient(client) as host:
        return egress.rules(host)


def _dead_stack_dirs() -> list[Path]:
    """Docker stack temp dirs under $TMPDIR whose creating process is gone (a live one's
    belongs to a stack still running, maybe another suite's)."""
    dead = []
    for path in Path(tempfile.gettempdir()).glob(f"{runs.DIR_PREFIX}*"):
        pid = path.name[len(runs.DIR_PREFIX) :].partition("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            dead.append(path)
    return dead


def _run_processes(run: str | None, docker_ids: set[str]) -> list[int]:
    """Host processes started for a stack (the marker) in this run (GAMEDAY_RUN), or
    without a run, for any docker stack (local stacks' processes are not this check's)."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    pids = []
    for proc in psutil.process_iter():
        if proc.pid in mine:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        marker = env.get(runs.MARKER)
        if marker and (env.get(runs.RUN_ENV) == run if run else marker in docker_ids):
            pids.append(proc.pid)
    return pids


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.backends.docker.leftovers")
    parser.add_argument("--run", default=os.environ.get(runs.RUN_ENV) or None)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args(argv)
    client = docker.from_env(timeout=60)
    try:
        deadline = time.monotonic() + args.settle
        while True:
            found = find(client, args.run)
            if not found or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    finally:
        client.close()
    for line in found:
        print(f"LEFT BEHIND: {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
