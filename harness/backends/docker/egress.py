"""Nothing inside the stack's containers reaches beyond the machine.

An `internal` Docker network would cut egress, but the engine then publishes no ports,
and the harness reaches every service through loopback. So the stack's network is an
ordinary bridge, and one rule in the engine's DOCKER-USER chain drops whatever its
containers send out of that bridge to anywhere else:

    container ──▶ br-<net> ──FORWARD──▶ DOCKER-USER: -i br-<net> ! -o br-<net> DROP
    host 127.0.0.1:<port> ──▶ br-<net> ──▶ container        (not forwarded: unaffected)
    container ──▶ service names on br-<net>                 (same bridge: unaffected)

External names do not even resolve (the engine's DNS forwards from the container's
namespace, through the same rule). Where the rule cannot be set (no iptables, not root,
a rootless engine) the stack says so in its notes instead of pretending.
"""

from __future__ import annotations

import re
import shutil
import subprocess

CHAIN = "DOCKER-USER"
_COMMENT = "gameday-egress:"


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # -w: other stacks (another suite on the engine) change the table at the same time.
        ["iptables", "-w", "20", *args], capture_output=True, text=True, timeout=30
    )


def _rule(bridge: str, stack_id: str) -> list[str]:
    return [
        CHAIN,
        "-i",
        bridge,
        "!",
        "-o",
        bridge,
        "-m",
        "comment",
        "--comment",
        f"{_COMMENT}{stack_id}",
        "-j",
        "DROP",
    ]


def block(bridge: str, stack_id: str) -> str | None:
    """Drop the bridge's outbound traffic; None on success, else why it is not blocked."""
    if shutil.which("iptables") is None:
        return "iptables not found"
    try:
        done = _iptables("-I", *_rule(bridge, stack_id))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    return done.stderr.strip() or f"iptables exit {done.returncode}"


def unblock(bridge: str, stack_id: str) -> None:
    if shutil.which("iptables") is None:
        return
    try:
        while _iptables("-D", *_rule(bridge, stack_id)).returncode == 0:
            pass  # delete every copy
    except (OSError, subprocess.TimeoutExpired):
        pass


def rules() -> list[tuple[str, str]]:
    """(bridge, stack id) of every rule this module set that is in the chain now."""
    if shutil.which("iptables") is None:
        return []
    try:
        listing = _iptables("-S", CHAIN)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in listing.stdout.splitlines():
        m = re.search(rf'-i (\S+) .*--comment "?{re.escape(_COMMENT)}([\w.-]+)"?', line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def sweep(live_stack_ids: set[str]) -> None:
    """Delete this module's rules for stacks that no longer exist."""
    for bridge, stack_id in rules():
        if stack_id not in live_stack_ids:
            unblock(bridge, stack_id)


def remove_rules_of(stack_id: str) -> int:
    """Delete one stack's rules, whatever bridge they name; how many there were."""
    mine = [(bridge, sid) for bridge, sid in rules() if sid == stack_id]
    for bridge, sid in mine:
        unblock(bridge, sid)
    return len(mine)
