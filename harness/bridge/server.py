"""The bridge server: answers the shims on the operator's PATH with the stack's state.

operator shell (bash) ── docker ps | grep … ──▶ shim ──unix socket──▶ BridgeServer
                                                                        │
                         Stack (local processes or containers) ◀────────┘
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.backends.base import Stack
from harness.bridge import lean_shim
from harness.bridge.protocol import Answer, Completed, Exec, Invocation
from harness.bridge.registry import bridged_tools

LEAN_MAGIC = b"GAMEDAY/1\n"  # shim.c's line protocol; shim.py sends JSON ("{...")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")  # as Python decodes argv and environ


def _read_lean(raw: bytes) -> Invocation:
    """What follows `GAMEDAY/1`: `<argc>` newline, then argv, cwd and env NUL-terminated."""
    head, _, rest = raw.partition(b"\n")
    fields = rest.split(b"\0")
    argc = int(head)
    argv = [_text(a) for a in fields[:argc]]
    cwd = _text(fields[argc])
    env: dict[str, str] = {}
    for entry in fields[argc + 1 :]:
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[_text(key)] = _text(value)
    return Invocation(argv, cwd, env, env.get("GAMEDAY_CONTEXT") or None)


def _lean_answer(result: Answer) -> bytes:
    if isinstance(result, Exec):
        items = [*result.argv, *(f"{k}={v}" for k, v in result.env.items())]
        body = b"".join(i.encode("utf-8", "surrogateescape") + b"\0" for i in items)
        return f"exec {len(result.argv)} {len(result.env)}\n".encode() + body
    out = result.stdout.encode("utf-8", "surrogateescape")
    err = result.stderr.encode("utf-8", "surrogateescape")
    return f"rc {result.rc} {len(out)} {len(err)}\n".encode() + out + err


def _json_answer(result: Answer) -> bytes:
    payload: dict[str, object]
    if isinstance(result, Exec):
        payload = {"exec": result.argv, "env": result.env}
    else:
        payload = {
            "rc": result.rc,
            "stdout": base64.b64encode(result.stdout.encode()).decode(),
            "stderr": base64.b64encode(result.stderr.encode()).decode(),
        }
    return json.dumps(payload).encode()


def _recv_line(conn: socket.socket) -> bytes:
    """At least the first line (or all there is, if the peer ends before a newline)."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _recv_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class _Workers:
    """Daemon threads that serve one connection at a time, kept between calls: a call starts
    a thread only when every worker is busy (a thread start per call cost more than the call's
    own handling). Daemons, as socketserver's were: a call blocked in a stack operation never
    holds up the process's exit."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._queue: queue.SimpleQueue[socket.socket | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._closed = False

    def submit(self, conn: socket.socket) -> None:
        with self._lock:
            reuse = self._idle > 0
            self._idle -= reuse
        if reuse:
            self._queue.put(conn)
        else:
            threading.Thread(
                target=self._work, args=(conn,), daemon=True, name="bridge-worker"
            ).start()

    def _work(self, conn: socket.socket | None) -> None:
        while conn is not None:
            try:
                self._serve(conn)
            except Exception:  # noqa: BLE001 - one call's failure never ends the worker
                pass
            with self._lock:
                if self._closed:  # a call that outlived close(): end, do not park forever
                    return
                self._idle += 1
            conn = self._queue.get()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._queue.put(None)


class BridgeServer:
    """Serves one stack. `operator_bin` goes first on the operator shell's PATH."""

    def __init__(self, stack: Stack, rundir: Path) -> None:
        self.stack = stack
        rundir.mkdir(parents=True, exist_ok=True)
        self.socket_path = str(rundir / "bridge.sock")
        self.operator_bin = rundir / "bin"
        self.container_bin = rundir / "container-bin"
        self.calls: list[tuple[list[str], int]] = []
        self._install_shims()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket_path)
        self._listener.listen(128)
        os.chmod(self.socket_path, 0o777)  # `docker exec` in a PostgreSQL context runs as nobody
        self._closing = False
        self._workers = _Workers(lambda conn: self._serve_connection(conn))  # patchable
        self._thread = threading.Thread(target=self._accept, daemon=True, name="bridge")
        self._thread.start()
        stack.attach_bridge(self.socket_path, str(self.container_bin))

    def _install_shims(self) -> None:
        lean = lean_shim.executable() if lean_shim.wanted() else None
        self.shim_kind = "lean" if lean else "python"
        source = (Path(__file__).parent / "shim.py").read_text()
        served = bridged_tools().values()
        for directory, tools in (
            (self.operator_bin, [t.name for t in served if t.operator]),
            (self.container_bin, [t.name for t in served if t.container]),
        ):
            directory.mkdir(exist_ok=True)
            os.chmod(directory, 0o755)
            for tool in tools:
                path = directory / tool
                if lean:  # a copy: PostgreSQL's unprivileged user cannot enter root's cache
                    shutil.copyfile(lean, path)
                else:
                    path.write_text(f"#!{sys.executable} -S\n{source}")
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | 0o444)

    def answer(self, inv: Invocation) -> Answer:
        tool = Path(inv.argv[0]).name
        shim_dir = str(self.container_bin if inv.container else self.operator_bin)
        bridged = bridged_tools().get(tool)
        if bridged is not None:
            return bridged.handler(self.stack, inv, shim_dir)
        return Completed(127, "", f"{tool}: not bridged\n")

    def _accept(self) -> None:
        """Hand each shim's connection to a worker thread (calls may block: compose up)."""
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                if self._closing:
                    return
                time.sleep(0.01)  # out of descriptors, say: retry without spinning a core
                continue
            self._workers.submit(conn)

    def _serve_connection(self, conn: socket.socket) -> None:
        """One call: read the request (shim.c's line protocol to its end, or shim.py's JSON
        line), answer it, close."""
        with conn:
            try:
                data = _recv_line(conn)
                first, _, rest = data.partition(b"\n")
                lean = first + b"\n" == LEAN_MAGIC
                if lean:
                    inv = _read_lean(rest + _recv_all(conn))
                else:
                    request = json.loads(first)
                    env = request["env"]
                    inv = Invocation(
                        request["argv"], request["cwd"], env, env.get("GAMEDAY_CONTEXT") or None
                    )
            except (OSError, ValueError, KeyError):
                return  # the shim went away or sent nothing we understand
            try:
                result = self.answer(inv)
            except Exception as exc:  # noqa: BLE001 - the shim must always get an answer
                result = Completed(125, "", f"gameday bridge error: {type(exc).__name__}: {exc}\n")
            self.calls.append((inv.argv, -1 if isinstance(result, Exec) else result.rc))
            try:
                conn.sendall(_lean_answer(result) if lean else _json_answer(result))
            except OSError:
                pass  # the shim was killed (a step's timeout): nobody to answer

    def close(self) -> None:
        self._closing = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)
        self._workers.close()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
