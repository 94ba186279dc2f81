"""What marks an engine resource (container, network, volume) as a gameday stack's own.

Every resource a `DockerStack` creates carries `gameday.stack=<id>` and the owner process,
so teardown, the reaper and the sweep of dead runs find exactly what a stack made, and
never touch anything else on the engine (a real `testgen-copilot`, another stack).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import psutil

STACK = "gameday.stack"  # the stack's id
OWNER = "gameday.owner"  # "<hostname>:<pid>:<process start time>" of the harness process
SERVICE = "gameday.service"  # the compose service a container is for
FINGERPRINT = "gameday.fingerprint"  # ServiceConfig.fingerprint() it was created with
PRODUCTION_NAME = "gameday.container-name"  # the compose container_name it stands for
HELPER = "gameday.helper"  # a transient engine-host helper (enginehost.py), not a stack's
RUN = "gameday.run"  # $GAMEDAY_RUN, when a CI job names its run (its leftover check's filter)


def owner_label(pid: int | None = None) -> str:
    """This process (or pid) as an owner label; the start time guards against pid reuse."""
    proc = psutil.Process(pid or os.getpid())
    return f"{socket.gethostname()}:{proc.pid}:{proc.create_time():.2f}"


def owner_alive(owner: str) -> bool | None:
    """True/False for an owner on this host; None for another host's (not ours to judge)."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        proc = psutil.Process(int(pid_text))
        return f"{proc.create_time():.2f}" == started and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # exists, but we may not look at it: assume alive


def stack_labels(
    stack_id: str, owner: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    run = os.environ.get("GAMEDAY_RUN")
    return {STACK: stack_id, OWNER: owner, **({RUN: run} if run else {}), **(extra or {})}


def stack_filter(stack_id: str | None = None) -> dict[str, list[str]]:
    """An engine list filter: one stack's resources, or every gameday stack's."""
    return {"label": [f"{STACK}={stack_id}" if stack_id else STACK]}
