"""The bridge server: answers the shims on the operator's PATH with the stack's state.

operator shell (bash) ── docker ps | grep … ──▶ shim ──unix socket──▶ BridgeServer
                                                                        │
                         Stack (local processes or containers) ◀────────┘
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socketserver
import stat
import sys
import threading
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
        handler = self._handler_class()
        self._server = socketserver.ThreadingUnixStreamServer(self.socket_path, handler)
        self._server.daemon_threads = True
        os.chmod(self.socket_path, 0o777)  # `docker exec` in a PostgreSQL context runs as nobody
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
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

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                first = self.rfile.readline()
                lean = first == LEAN_MAGIC
                if lean:
                    inv = _read_lean(self.rfile.read())
                else:
                    request = json.loads(first)
                    env = request["env"]
                    inv = Invocation(
                        request["argv"], request["cwd"], env, env.get("GAMEDAY_CONTEXT") or None
                    )
                try:
                    result = server.answer(inv)
                except Exception as exc:  # noqa: BLE001 - the shim must always get an answer
                    result = Completed(
                        125, "", f"gameday bridge error: {type(exc).__name__}: {exc}\n"
                    )
                server.calls.append((inv.argv, -1 if isinstance(result, Exec) else result.rc))
                if lean:
                    self.wfile.write(_lean_answer(result))
                    return
                payload: dict[str, object]
                if isinstance(result, Exec):
                    payload = {"exec": result.argv, "env": result.env}
                else:
                    payload = {
                        "rc": result.rc,
                        "stdout": base64.b64encode(result.stdout.encode()).decode(),
                        "stderr": base64.b64encode(result.stderr.encode()).decode(),
                    }
                self.wfile.write(json.dumps(payload).encode())

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
