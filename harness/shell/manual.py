"""Runbook commands a gameday cannot run, and why: they are reported *manual*, never passed."""

from __future__ import annotations

from collections.abc import Collection

from harness.shell.commands import command_words

MANUAL_TOOLS = {
    "kubectl": "no Kubernetes cluster: the gameday stack runs under Compose",
    "systemctl": "TestGen runs under Compose here, not as a systemd unit",
    "service": "TestGen runs under Compose here, not as a system service",
    "vim": "interactive editor: a person edits the file",
    "vi": "interactive editor: a person edits the file",
    "nano": "interactive editor: a person edits the file",
    "emacs": "interactive editor: a person edits the file",
    "top": "interactive monitor: a person watches it",
    "htop": "interactive monitor: a person watches it",
    "iotop": "interactive monitor: a person watches it",
    "watch": "interactive monitor: a person watches it",
    "ping": "ICMP to hosts outside the gameday stack (no Prometheus host here)",
    "make": "the TestGen repository's Makefile is not part of the gameday stack",
    "git": "deployment history lives in the TestGen repository, not in the stack",
    "ssh": "remote hosts are outside the gameday's blast radius",
}
def manual_reason(
    command: str, comment: str, bridged: Collection[str] = frozenset()
) -> str | None:
    """Why this step must be done by a person, or None if the bridge can run it. A tool in
    `bridged` (the bridge's registry) is never manual, whatever MANUAL_TOOLS says."""
    if not command.strip():
        text = comment.lower()
        if "grafana" in text or "dashboard" in text or "navigate" in text:
            return f"dashboard: {comment}"
        if "post in" in text or "slack" in text or "notify" in text or "announcement" in text:
            return f"communication: {comment}"
        return f"instruction for a person: {comment}"
    for word in command_words(command):
        name = word.rsplit("/", 1)[-1]
        reason = None if name in bridged else MANUAL_TOOLS.get(name)
        if reason:
            return f"`{word}`: {reason}"
    return None
