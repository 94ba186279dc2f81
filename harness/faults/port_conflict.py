"""Port conflict: another process holds the service's published port when it restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.faults.params import SERVICE_NAME, Param
from harness.tls import shared_context

# Another web app (a developer's server, a stray container) answering 404 to everything.
_SQUATTER = """
import http.server, sys, threading
class NotHere(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404, "not the TestGen API")  # SQUATTER_ANSWER
    do_POST = do_HEAD = do_GET
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), NotHere)
threading.Timer(float(sys.argv[3]), server.shutdown).start()  # bounded lifetime
print("listening", flush=True)
server.serve_forever()
"""
SQUATTER_ANSWER = "404 not the TestGen API"


class PortConflict(Fault):
    kind = "port-conflict"
    params = (
        Param("service", str, "the compose service that restarts", pattern=SERVICE_NAME),
        Param("port", int, "its published port, taken by another process meanwhile",
              minimum=1, maximum=65535),
        Param("hold_s", float, "how long the other process holds the port at most", "s",
              minimum=1, maximum=3600),
    )

    def __init__(self, service: str = "testgen", port: int = 8000, hold_s: float = 900.0) -> None:
        self.service, self.port, self.hold_s = service, port, hold_s
        self.squatter: subprocess.Popen[bytes] | None = None

    def inject(self, stack: Stack) -> None:
        address = stack.published(self.port)
        assert address is not None, f"nothing is published on {self.port}"
        stack.stop(self.service)  # the service goes down for a restart...
        marker = getattr(stack, "id", "")
        env = {**os.environ, "GAMEDAY_STACK_ID": marker} if marker else dict(os.environ)
        # ...and something else, on the machine that publishes it, takes its port meanwhile
        self.squatter = stack.host_process(
            [sys.executable, "-c", _SQUATTER, address[0], str(address[1]), str(self.hold_s)], env
        )
        assert self.squatter.stdout is not None
        self.squatter.stdout.readline()
        try:
            stack.start(self.service)  # the restart that now fails
        except Exception:  # noqa: BLE001 - the engine refusing to start is the fault itself
            pass

    def confirm(self, stack: Stack) -> str | None:
        state = stack.containers().get(self.service)
        answer = self._answer(stack)
        squatted = answer == SQUATTER_ANSWER
        if squatted and state is not None and state.status != Status.RUNNING:
            return (
                f"port {self.port} held by pid {self.squatter.pid if self.squatter else '?'} "
                f"(it answers {answer}); {state.name} {state.status.value} "
                f"(exit {state.exit_code})"
            )
        self.shortfall = (f"port {self.port} answers {answer}, not the other process; "
                          f"{self.service} is {state.status.value if state else 'missing'}")
        return None

    def _answer(self, stack: Stack) -> str:
        """What the published port answers now: the other process says "404 not the TestGen
        API"; the service itself, or nothing, says otherwise."""
        address = stack.published(self.port)
        if address is None:
            return "nothing (not published)"
        try:
            reply = httpx.get(
                f"http://{address[0]}:{address[1]}/health", timeout=2, verify=shared_context()
            )
        except httpx.HTTPError as exc:
            return f"nothing ({type(exc).__name__})"
        return f"{reply.status_code} {reply.reason_phrase}"

    def still_in_effect(self, stack: Stack) -> str | None:
        if self.squatter is not None and self.squatter.poll() is None:
            return f"port {self.port} is held by pid {self.squatter.pid} (not the stack's API)"
        return None

    def diagnose(self, stack: Stack) -> str | None:
        if self.squatter is not None and self.squatter.poll() is None:
            return (
                f"port {self.port} is still held by pid {self.squatter.pid} (another web "
                "server, not part of the stack): no step frees the port"
            )
        return None

    def cleanup(self, stack: Stack) -> None:
        if self.squatter is not None and self.squatter.poll() is None:
            os.killpg(self.squatter.pid, signal.SIGKILL)
            self.squatter.wait(timeout=5)

    @property
    def description(self) -> str:
        return (
            f"While {self.service} was restarting, another process took its port {self.port}; "
            "the service cannot bind it."
        )
