"""Real memory limits for local services through the kernel's memory cgroup.

A service with `mem_limit` runs in its own cgroup (v1 `memory` controller or v2 `memory.max`),
so an allocation past the limit ends in a real kernel OOM kill, counted by the cgroup.
Where no cgroup is writable the limit is not enforced and the stack says so in its notes.
"""

from __future__ import annotations

import os
from pathlib import Path

V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


class MemoryCgroup:
    def __init__(self, path: Path, version: int) -> None:
        self.path, self.version = path, version

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup:
        """Create a cgroup with a hard memory limit and no swap; raises OSError if impossible."""
        if (V1_ROOT / "memory.limit_in_bytes").exists():
            path = V1_ROOT / "gameday" / name
            path.mkdir(parents=True, exist_ok=True)
            (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            try:  # without swap accounting the limit still holds, but swap could absorb it
                (path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
            except OSError:
                pass
            return cls(path, 1)
        for root in V2_ROOTS:
            controllers = root / "cgroup.controllers"
            if controllers.exists() and "memory" in controllers.read_text().split():
                parent = root / "gameday"
                parent.mkdir(exist_ok=True)
                (root / "cgroup.subtree_control").write_text("+memory")
                (parent / "cgroup.subtree_control").write_text("+memory")
                path = parent / name
                path.mkdir(exist_ok=True)
                (path / "memory.max").write_text(str(limit_bytes))
                (path / "memory.swap.max").write_text("0")
                return cls(path, 2)
        raise OSError("no writable memory cgroup (v1 memory controller or v2 memory.max)")

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup so far."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def usage_bytes(self) -> int:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        try:
            return int((self.path / name).read_text())
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        # The kernel refuses to remove a cgroup with live members; they are gone by now.
        try:
            for pid in self.procs_file.read_text().split():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            self.path.rmdir()
        except OSError:
            pass
