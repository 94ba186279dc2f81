"""CPU seconds used so far by an engine's containers and by the engine itself, to diff around
a run (cgroup v1 with the cgroupfs driver, as Debian's docker.io sets up here).

    python scripts/engine-cpu.py [--cgroup docker|gameday-remote-engine] [--exec-root DIR]

containers: cpuacct.usage of the engine's cgroup parent (`docker` for the local engine,
`gameday-remote-engine` for scripts/remote-engine.sh's); engine: dockerd, containerd and the
shims of that engine (matched by its exec root in their command line; the local engine's is
/var/run/docker), children included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cgroup", default="docker")
    parser.add_argument("--exec-root", default="/var/run/docker")
    args = parser.parse_args()
    print(f"containers {containers_cpu(args.cgroup):.1f} engine {engine_cpu(args.exec_root):.1f}")


if __name__ == "__main__":
    main()
