"""Free loopback ports, so several stacks (and `pytest -n 2`) never share one.

Ports come from below the kernel's ephemeral range: a port picked by `bind(0)` can be
taken a moment later as the local end of some outgoing connection, and the service that
was meant to listen on it would then refuse to start.

A port handed out is reserved for the life of this process, across processes too: a
byte-range lock at offset `port` of one shared lock file. A stack's service that restarts
leaves its port unbound for a moment, and another process's stack (an xdist worker, a
concurrent `gameday run`) must not pick it then. The kernel drops the locks when the
process dies, so a killed run reserves nothing.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import threading

_RANGE = (20000, 32000)
_lock = threading.Lock()
_handed_out: set[int] = set()
# Opened once and never closed: closing any descriptor of the file would drop every
# lock this process holds on it (POSIX record locks).
_reservations: int | None = None


def _reserve(port: int) -> bool:
    """Lock byte `port` of the shared file; False if another live process holds it."""
    global _reservations
    if _reservations is None:
        path = _reservations_path()
        _reservations = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(_reservations, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
    except OSError:
        return False
    return True


def _reservations_path() -> str:
    """One file for the whole machine, as ports are: /tmp's, whatever $TMPDIR a process has
    (two runs with their own TMPDIR still share the loopback). It is a lock, not a run's
    temp file: it stays, empty, and holds nothing once every process is gone."""
    base = "/tmp" if os.access("/tmp", os.W_OK | os.X_OK) else tempfile.gettempdir()
    return os.path.join(base, ".gameday-ports.lock")


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(host: str = "127.0.0.1") -> int:
    lo, hi = _RANGE
    eph_lo, eph_hi = _ephemeral_range()
    rng = random.SystemRandom()
    with _lock:
        for _ in range(500):
            port = rng.randrange(lo, hi)
            if eph_lo <= port <= eph_hi or port in _handed_out:
                continue
            if _bindable(port, host) and _reserve(port):
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # crowded machine: any port
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
