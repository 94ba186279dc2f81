"""The bridge server: answers the shims on the operator's PATH with the stack's state.

operator shell (bash) ── docker ps | grep … ──▶ shim ──unix socket──▶ BridgeServer
                                                                        │
                         Stack (local processes or containers) ◀────────┘
"""

from __future__ import annotations

import base64
import json
import os
import socketserver
import stat
import sys
import threading
from pathlib import Path

from harness.backends.base import Stack
from harness.bridge import compose_cli, docker_cli, routes
from harness.bridge.protocol import Answer, Completed, Exec, Invocation

OPERATOR_TOOLS = ("docker", "docker-compose", "curl", "redis-cli", "psql", "pg_isready", "fuser")
CONTAINER_TOOLS = ("curl", "redis-cli", "psql", "pg_isready")


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
        stack.bridge_socket, stack.container_bin = self.socket_path, str(self.container_bin)

    def _install_shims(self) -> None:
        source = (Path(__file__).parent / "shim.py").read_text()
        for directory, tools in (
            (self.operator_bin, OPERATOR_TOOLS),
            (self.container_bin, CONTAINER_TOOLS),
        ):
            directory.mkdir(exist_ok=True)
            os.chmod(directory, 0o755)
            for tool in tools:
                path = directory / tool
                path.write_text(f"#!{sys.executable} -S\n{source}")
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | 0o444)

    def answer(self, inv: Invocation) -> Answer:
        tool = Path(inv.argv[0]).name
        shim_dir = str(self.container_bin if inv.container else self.operator_bin)
        if tool == "docker":
            return docker_cli.run(self.stack, inv)
        if tool == "docker-compose":
            return compose_cli.run(self.stack, inv)
        if tool == "curl":
            return routes.curl(self.stack, inv, shim_dir)
        if tool == "redis-cli":
            return routes.redis_cli(self.stack, inv, shim_dir)
        if tool == "psql":
            return routes.psql(self.stack, inv, shim_dir)
        if tool == "pg_isready":
            return routes.pg_isready(self.stack, inv, shim_dir)
        if tool == "fuser":
            return routes.fuser(self.stack, inv, shim_dir)
        return Completed(127, "", f"{tool}: not bridged\n")

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request = json.loads(self.rfile.readline())
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
                payload: dict[str, object]
                if isinstance(result, Exec):
                    server.calls.append((inv.argv, -1))
                    payload = {"exec": result.argv, "env": result.env}
                else:
                    server.calls.append((inv.argv, result.rc))
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
