"""The stack's upstream DNS: every name the engine's own DNS does not know is NXDOMAIN, at once.

Inside a container, `postgres` is resolved by the engine's embedded DNS (127.0.0.11), which
knows the running containers of the network. A name it does not know (a stopped service,
`api.openai.com`) is forwarded to the container's upstream servers from the container's
network namespace, and the egress block (egress.py) drops that query. The embedded DNS then
sends no answer at all (engine 20.10 does the same on an `internal` network), so the
resolver in the container waits out its timeout: `pg_isready -h postgres` against a stopped
PostgreSQL took 10 s instead of failing at once as it does in production, where the real
DNS answers "no such name".

So each stack's containers get one upstream server: this responder, on the stack bridge's
gateway address (the host side of the bridge, reached without leaving the bridge, so the
egress block is untouched), answering NXDOMAIN to every query. Nothing is looked up
anywhere: no name outside the stack resolves, and the answer comes in microseconds.

    container ─▶ 127.0.0.11 (engine) ── known service ──▶ its address
                                     └─ unknown name ──▶ <gateway>:53 (this) ──▶ NXDOMAIN

It runs as a thread of the harness process (it goes when the process goes) and needs
port 53, so root; elsewhere the stack notes that lookups of stopped services time out.

On a remote engine it runs on the engine's host instead, as the main process of the
stack's helper container (enginehost.py): this file's source is that process's program
(stdlib only), see `main`. There it also undoes the stack's engine-side state (its egress
rule) when the helper is stopped.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

DNS_PORT = 53
_NXDOMAIN = 3


def nxdomain_answer(query: bytes) -> bytes | None:
    """The NXDOMAIN response to a DNS query (same id and question), or None if the packet
    is not a query we can answer."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:  # a response, or not one question
        return None
    end = 12
    while end < len(query):
        length = query[end]
        if length == 0:
            break
        if length & 0xC0:  # a compression pointer has no place in a query's question
            return None
        end += 1 + length
    end += 1 + 4  # the root label, QTYPE, QCLASS
    if end > len(query):
        return None
    opcode_rd = flags & 0x7900  # opcode and RD as asked
    answer_flags = 0x8000 | opcode_rd | 0x0080 | _NXDOMAIN  # QR, RA, rcode
    return struct.pack("!HHHHHH", ident, answer_flags, 1, 0, 0, 0) + query[12:end]


class NoSuchHost:
    """An NXDOMAIN-only DNS server on (address, 53/udp) until close()."""

    def __init__(self, address: str, port: int = DNS_PORT) -> None:
        self.address = address
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((address, port))
        except OSError:
            self._sock.close()
            raise
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="gameday-dns")
        self._thread.start()

    def _serve(self) -> None:
        self._sock.settimeout(0.5)  # wakes up to notice close()
        while not self._closed.is_set():
            try:
                query, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            answer = nxdomain_answer(query)
            if answer is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendto(answer, peer)

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        self._thread.join(2)


def main(argv: list[str]) -> int:
    """The engine-host helper's main process:
    `--dns ADDRESS` serve NXDOMAIN there ("" for none), `--undo CMD` (repeatable) run each
    shell command on SIGTERM until it fails (deleting every copy of a rule), `--lifetime S`
    exit after S seconds (0: until stopped)."""
    dns, undo, lifetime = "", [], 0.0
    for flag, value in zip(argv[::2], argv[1::2], strict=False):
        if flag == "--dns":
            dns = value
        elif flag == "--undo":
            undo.append(value)
        elif flag == "--lifetime":
            lifetime = float(value)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server = NoSuchHost(dns) if dns else None
    print("ready", flush=True)
    deadline = time.monotonic() + lifetime if lifetime else None
    while not stopped.wait(1.0):  # short waits: the SIGTERM handler runs between them
        if deadline is not None and time.monotonic() >= deadline:
            break
    if server is not None:
        server.close()
    for command in undo:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["sh", "-c", command], capture_output=True).returncode != 0:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
