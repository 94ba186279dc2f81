"""The engine's answers read into the harness's types: `docker inspect` → ContainerState,
`docker stats --no-stream` → ResourceUsage, `docker logs --timestamps` → (time, line)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harness.backends.base import ContainerState, ResourceUsage, Status
from harness.backends.docker.images import short_id
from harness.compose import ServiceConfig


def parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 nanosecond timestamps as epoch seconds; its zero time as None."""
    if not text or text.startswith("0001-01-01"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    offset = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, tz = frac.partition(sign)
            offset = sign + tz
    if not offset and text.endswith("Z"):
        offset = "+00:00"
    base = datetime.fromisoformat(head + offset).timestamp()
    return base + (float(f"0.{frac}") if frac else 0.0)


def status_of(state: dict[str, Any]) -> Status:
    if state.get("Restarting"):
        return Status.RESTARTING
    return {
        "running": Status.RUNNING,
        "paused": Status.RUNNING,
        "restarting": Status.RESTARTING,
        "created": Status.CREATED,
    }.get(str(state.get("Status")), Status.EXITED)


def container_state(
    attrs: dict[str, Any], service: str, name: str, config: ServiceConfig
) -> ContainerState:
    """One container's inspect document as the harness's ContainerState.

    `name` is the production container_name (what the runbook's commands use), whatever
    the engine calls the container."""
    st = attrs.get("State") or {}
    status = status_of(st)
    return ContainerState(
        service=service,
        name=name,
        config=config,
        status=status,
        exit_code=None
        if status in (Status.RUNNING, Status.CREATED)
        else int(st.get("ExitCode") or 0),
        oom_killed=bool(st.get("OOMKilled")),
        restart_count=int(attrs.get("RestartCount") or 0),
        pid=int(st["Pid"]) if st.get("Pid") else None,
        created_at=parse_time(attrs.get("Created")) or 0.0,
        started_at=parse_time(st.get("StartedAt")),
        finished_at=parse_time(st.get("FinishedAt")),
        image_id=short_id(str(attrs.get("Image", ""))),
    )


def resource_usage(sample: dict[str, Any], limit_bytes: int | None) -> ResourceUsage:
    """One stats sample, computed the way `docker stats` prints it."""
    mem = sample.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    # The CLI leaves out the page cache that can be dropped: inactive file pages.
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    usage = max(0, usage - int(cache or 0))
    cpu, pre = sample.get("cpu_stats") or {}, sample.get("precpu_stats") or {}
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    sys_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    percent = 100.0 * cpu_delta / sys_delta * cpus if cpu_delta > 0 and sys_delta > 0 else 0.0
    pids = int((sample.get("pids_stats") or {}).get("current") or 0)
    return ResourceUsage(usage, limit_bytes, round(percent, 2), pids)


def log_lines(raw: bytes) -> list[tuple[float, str]]:
    """`docker logs --timestamps` output as (epoch seconds, line)."""
    lines: list[tuple[float, str]] = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        when = parse_time(stamp) if stamp[:1].isdigit() else None
        if when is None:
            if lines:  # a continuation without a stamp belongs to the line before
                lines.append((lines[-1][0], line))
            continue
        lines.append((when, text))
    return lines
