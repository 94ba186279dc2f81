"""CPU seconds used so far by an engine's containers and by the engine itself, to diff around
a run (cgroup v1 with the cgroupfs driver, as Debian's docker.io sets up here).

    python scripts/engine-cpu.py [--cgroup docker|gameday-remote-engine] [--exec-root DIR]
    python scripts/engine-cpu.py --watch-run RUN     (until SIGINT/SIGTERM)

containers: cpuacct.usage of the engine's cgroup parent (`docker` for the local engine,
`gameday-remote-engine` for scripts/remote-engine.sh's); engine: dockerd, containerd and the
shims of that engine (matched by its exec root in their command line; the local engine's is
/var/run/docker), children included.

--watch-run: the CPU of one run's containers only (labelled gameday.run=RUN, as
$GAMEDAY_RUN names them), when other runs share the engine; and its `docker exec` calls
(the engine's main cost per call: a runc invocation), counted from the engine's events.
Samples every container's cgroup each 0.5 s and keeps the last reading of each (a
container's last half second is lost when it is removed); prints the totals when stopped.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup/cpuacct")


def containers_cpu(cgroup: str) -> float:
    try:
        return int((CGROUP_ROOT / cgroup / "cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError):
        return float("nan")


def engine_cpu(exec_root: str) -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        name, cmd = proc.info["name"] or "", " ".join(proc.info["cmdline"] or [])
        if not name.startswith(("dockerd", "containerd")) or proc.info["cpu_times"] is None:
            continue
        mine = exec_root in cmd or (exec_root == "/var/run/docker" and "--exec-root" not in cmd
                                    and "gameday-remote-engine" not in cmd)
        if mine:
            t = proc.info["cpu_times"]
            total += t.user + t.system + t.children_user + t.children_system
    return total


def watch_run(run: str, cgroup: str) -> None:
    import docker

    client = docker.from_env()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    execs: dict[str, int] = {}
    threading.Thread(target=_count_execs, args=(client, run, execs, stop), daemon=True).start()
    mine: dict[str, bool] = {}
    usage: dict[str, float] = {}
    while not stop.is_set():
        for path in (CGROUP_ROOT / cgroup).glob("[0-9a-f]*"):
            cid = path.name
            if cid not in mine:
                try:
                    labels = client.api.inspect_container(cid)["Config"]["Labels"] or {}
                except Exception:  # noqa: BLE001 - gone already: not counted
                    continue
                mine[cid] = labels.get("gameday.run") == run
            if mine[cid]:
                try:
                    usage[cid] = int((path / "cpuacct.usage").read_text()) / 1e9
                except (OSError, ValueError):
                    pass
        stop.wait(0.5)
    total = sum(execs.values())
    by_name = ", ".join(f"{n} {c}" for n, c in sorted(execs.items(), key=lambda i: -i[1])[:8])
    print(f"run {run}: containers {len(usage)}, CPU-s {sum(usage.values()):.1f}; "
          f"docker exec calls {total} ({by_name})")


def _count_execs(client: Any, run: str, execs: dict[str, int], stop: threading.Event) -> None:
    flt = {"event": "exec_start", "label": f"gameday.run={run}"}
    for event in client.events(decode=True, filters=flt):
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        command = event.get("status", "").partition(": ")[2].split(" ")
        key = f"{attrs.get('gameday.service', '?')}:{command[0]}"
        execs[key] = execs.get(key, 0) + 1
        if stop.is_set():
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cgroup", default="docker")
    parser.add_argument("--exec-root", default="/var/run/docker")
    parser.add_argument("--watch-run", metavar="RUN")
    args = parser.parse_args()
    if args.watch_run:
        watch_run(args.watch_run, args.cgroup)
        return
    print(f"containers {containers_cpu(args.cgroup):.1f} engine {engine_cpu(args.exec_root):.1f}")


if __name__ == "__main__":
    main()
