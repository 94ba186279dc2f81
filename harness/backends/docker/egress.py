"""Nothing inside the stack's containers reaches beyond the machine.

An `internal` Docker network would cut egress, but the engine then publishes no ports,
and the harness reaches every service through loopback. So the stack's network is an
ordinary bridge, and one rule in the engine's DOCKER-USER chain drops whatever its
containers send out of that bridge to anywhere else:

    container ──▶ br-<net> ──FORWARD──▶ DOCKER-USER: -i br-<net> ! -o br-<net>
                                                     ctstate NEW,INVALID  DROP
    host 127.0.0.1:<port> ──▶ br-<net> ──▶ container        (not forwarded: unaffected)
    harness ──▶ remote engine's <addr>:<port> ──▶ container (forwarded in; its replies are
                                                     ESTABLISHED: unaffected)
    container ──▶ service names on br-<net>                 (same bridge: unaffected)

External names do not even resolve (the engine's DNS forwards from the container's
namespace, through the same rule). Where the rule cannot be set (no iptables, not root,
a rootless engine) the stack says so in its notes instead of pretending. On a remote
engine the rule is set on the engine's host, through the stack's helper (enginehost.py).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from typing import Protocol

CHAIN = "DOCKER-USER"
_COMMENT = "gameday-egress:"


class EngineHost(Protocol):
    """Where the rules live: this machine, or a remote engine's host (enginehost.py)."""

    remote: bool

    def run(self, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]: ...


class _ThisMachine:
    remote = False

    def run(self, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


HERE: EngineHost = _ThisMachine()


def _iptables(host: EngineHost, *args: str) -> subprocess.CompletedProcess[str]:
    # -w: other stacks (another suite on the engine) change the table at the same time.
    return host.run(["iptables", "-w", "20", *args], timeout=30)


def _usable(host: EngineHost) -> bool:
    return host.remote or shutil.which("iptables") is not None


def _rule(bridge: str, stack_id: str) -> list[str]:
    return [
        CHAIN,
        "-i",
        bridge,
        "!",
        "-o",
        bridge,
        # Only what the containers start: replies to a client outside (the harness reaching
        # a port published on a remote engine's interface, forwarded in) go out.
        "-m",
        "conntrack",
        "--ctstate",
        "NEW,INVALID",
        "-m",
        "comment",
        "--comment",
        f"{_COMMENT}{stack_id}",
        "-j",
        "DROP",
    ]


def undo_command(bridge: str, stack_id: str) -> str:
    """The shell command, run by the stack's helper on the engine's host when it is stopped,
    that deletes one copy of the rule there (its parent's parent is the container's shim,
    which lives in the engine host's mount namespace, where `iptables` is)."""
    rule = shlex.join(["iptables", "-w", "20", "-D", *_rule(bridge, stack_id)])
    return f"nsenter -t \"$(awk '/^PPid/{{print $2}}' /proc/$PPID/status)\" -m -- {rule}"


def block(bridge: str, stack_id: str, host: EngineHost = HERE) -> str | None:
    """Drop the bridge's outbound traffic; None on success, else why it is not blocked."""
    if not _usable(host):
        return "iptables not found"
    try:
        done = _iptables(host, "-I", *_rule(bridge, stack_id))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    return done.stderr.strip() or f"iptables exit {done.returncode}"


def unblock(bridge: str, stack_id: str, host: EngineHost = HERE) -> None:
    if not _usable(host):
        return
    try:
        while _iptables(host, "-D", *_rule(bridge, stack_id)).returncode == 0:
            pass  # delete every copy
    except (OSError, subprocess.TimeoutExpired):
        pass


def rules(host: EngineHost = HERE) -> list[tuple[str, str]]:
    """(bridge, stack id) of every rule this module set that is in the chain now."""
    if not _usable(host):
        return []
    try:
        listing = _iptables(host, "-S", CHAIN)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in listing.stdout.splitlines():
        m = re.search(rf'-i (\S+) .*--comment "?{re.escape(_COMMENT)}([\w.-]+)"?', line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def sweep(live_stack_ids: set[str], host: EngineHost = HERE) -> None:
    """Delete this module's rules for stacks that no longer exist."""
    for bridge, stack_id in rules(host):
        if stack_id not in live_stack_ids:
            unblock(bridge, stack_id, host)


def remove_rules_of(stack_id: str, host: EngineHost = HERE) -> int:
    """Delete one stack's rules, whatever bridge they name; how many there were."""
    mine = [(bridge, sid) for bridge, sid in rules(host) if sid == stack_id]
    for bridge, sid in mine:
        unblock(bridge, sid, host)
    return len(mine)
