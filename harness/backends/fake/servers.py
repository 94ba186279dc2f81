"""The fake stack's in-process servers: real sockets on loopback. The TestGen API is the
reference service's own app (`api.py`); the dependencies are played here.

A fake container that runs has its server listening; one that does not, has none, so a
client gets `connection refused` exactly as from a dead process. Dependencies are reached
the way the real TestGen service reaches them: over the network, through the fault proxy's
links, so a cut link or a stopped dependency is seen by a real round trip.

    TestGen API (api.py) ──▶ fault proxy (harness.faultproxy, in a thread's loop)
                                   ──▶ "PostgreSQL" (startup handshake; rows in the volume)
                                   ──▶ "Redis" (a small RESP server; data in memory)
                                   ──▶ mock LLM (http.server over mockllm's own State)
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.backends.local.ports import free_port as reserved_free_port
from harness.services.mockllm import answers
from harness.services.mockllm.state import HANG_LIMIT_S, State, parse_mode

Log = Callable[[str, str], None]  # (level, message)
Resolve = Callable[[str, int], tuple[str, int]]  # service DNS: (host, port) -> loopback
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
DEP_TIMEOUT = 0.9  # as the reference service's /ready checks


class _Tracking:
    """Mixin: remembers open connections, so a stopped server drops them as a dead process's
    kernel would (an idle keep-alive connection must not outlive its server)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def _track_init(self) -> None:
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        self.closing = threading.Event()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)  # type: ignore[misc]

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def drop_all(self) -> None:
        self.closing.set()
        with self.sockets_lock:
            for sock in list(self.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _HTTPServer(_Tracking, ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 app: Any) -> None:
        self._track_init()
        self.app = app
        super().__init__(address, handler)


class _TCPServer(_Tracking, socketserver.ThreadingTCPServer):
    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler],
                 app: Any) -> None:
        self._track_init()
        self.app = app
        super().__init__(address, handler)


class Service:
    """One fake container's server: `start` listens on its port, `stop` closes everything."""

    def __init__(self, port: int, log: Log) -> None:
        self.port, self.log = port, log
        self._server: _Tracking | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> _Tracking:
        raise NotImplementedError

    def start(self) -> None:
        server = self._make_server()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True,  # type: ignore[attr-defined]
            name=f"fake-{type(self).__name__}-{self.port}")
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]
        server.drop_all()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def healthy(self) -> bool:
        return self._server is not None


# -- HTTP plumbing ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        try:
            self.server.app.handle(self, method, self.path.split("?", 1)[0])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


# -- the mock LLM provider -------------------------------------------------------------------


class MockLlm(Service):
    """The mock provider's routes and `/_chaos` control API, over mockllm's own `State`
    (modes, deterministic failure ratio, stats), so the `llm-provider` fault confirms from
    the same counters as against the real mock."""

    ROUTES = {("POST", "/v1/chat/completions"): ("openai", True),
              ("POST", "/v1/messages"): ("anthropic", True),
              ("POST", "/api/generate"): ("ollama", True),
              ("GET", "/v1/models"): ("openai", False),
              ("GET", "/api/tags"): ("ollama", False)}

    def __init__(self, port: int, log: Log) -> None:
        super().__init__(port, log)
        self.state = State()  # a process of its own: modes and counts reset on restart

    def _make_server(self) -> _Tracking:
        self.state = State()
        return _HTTPServer(("127.0.0.1", self.port), _Handler, self)

    def handle(self, h: _Handler, method: str, path: str) -> None:
        if path == "/_chaos/health":
            return h.reply(200, {"status": "ok"})
        if path == "/_chaos/mode":
            if method == "PUT":
                try:
                    providers, mode = parse_mode(h._body())
                except ValueError as exc:
                    return h.reply(400, {"error": str(exc)})
                for provider in providers:
                    self.state.set_mode(provider, mode)
                    self.log("INFO", f"mode provider={provider} mode={mode.mode}")
            return h.reply(200, self.state.modes_json())
        if path == "/_chaos/stats":
            return h.reply(200, self.state.stats())
        route = self.ROUTES.get((method, path))
        if route is None:
            return h.reply(404, {"error": "not found"})
        provider, completion = route
        if path == "/v1/models" and "x-api-key" in h.headers and "authorization" not in h.headers:
            provider = "anthropic"
        body = h._body() if method == "POST" else None
        status, answer = self._serve(h, provider, completion, body)
        self.state.count_response(provider, status, path)
        self.log("INFO", f"request provider={provider} path={path} status={status}")
        if isinstance(answer, bytes):
            return h.reply(status, answer)
        headers = {"Retry-After": "1"} if status == 429 else None
        return h.reply(status, answer, headers)

    def _serve(self, h: _Handler, provider: str, completion: bool,
               body: Any) -> tuple[int, Any]:
        key = h.headers.get("authorization") or h.headers.get("x-api-key")
        if provider != "ollama" and not (key or "").strip():
            return 401, {"error": {"type": "authentication_error", "message": "no API key"}}
        n = self.state.count_request(provider)
        started, hung = time.monotonic(), False
        while (mode := self.state.modes[provider]).mode == "hang":
            if not hung:
                self.state.hangs[provider] += 1
                hung = True
            if time.monotonic() - started > HANG_LIMIT_S or self._stopping():
                return 504, {"error": {"code": "timeout"}}
            time.sleep(0.05)
        if mode.delay_ms:
            time.sleep(mode.delay_ms / 1000)
        if mode.mode == "malformed":
            return 200, b'{"id": "chatcmpl-mock", "choices": [{"message": {"content": "import py'
        if mode.mode == "server_error" and self.state.fails(n, mode.ratio):
            return 500, {"error": {"type": "server_error", "code": "server_error"}}
        if mode.mode == "quota_exceeded" and completion:
            if provider == "anthropic":
                return 400, {"type": "error", "error": {"type": "invalid_request_error"}}
            return 429, {"error": {"type": "insufficient_quota", "code": "insufficient_quota"}}
        if mode.mode == "rate_limited" and completion:
            return 429, {"error": {"type": "requests", "code": "rate_limit_exceeded"}}
        return 200, self._ok(provider, completion, body or {})

    def _stopping(self) -> bool:
        return self._server is None or self._server.closing.is_set()

    @staticmethod
    def _ok(provider: str, completion: bool, body: dict[str, Any]) -> Any:
        try:
            if provider == "openai":
                if not completion:
                    return answers.openai_models()
                return answers.openai_completion("gpt-4o-mini", answers.prompt_of_openai(body))
            if provider == "anthropic":
                if not completion:
                    return answers.anthropic_models()
                return answers.anthropic_message("claude-3-5-haiku-latest",
                                                 answers.prompt_of_anthropic(body))
            if not completion:
                return answers.ollama_tags()
            return answers.ollama_generate("codellama", answers.prompt_of_ollama(body))
        except (ValueError, KeyError, TypeError):
            return {"error": "bad request body"}


# -- Redis: a small RESP server ---------------------------------------------------------------


class _RespHandler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        app: FakeRedis = self.server.app
        proto = 2  # RESP2 until the client says HELLO 3 (redis-py 8 does)
        while not self.server.closing.is_set():
            try:
                argv = _read_resp(self.rfile)
            except (OSError, ValueError):
                return
            if argv is None:
                return
            if argv and argv[0].upper() in ("GET", "POST") and len(argv) == 3 \
                    and argv[2].startswith("HTTP/"):
                return  # Redis drops what looks like HTTP (cross-protocol scripting)
            if argv and argv[0].upper() == "HELLO":
                proto = int(argv[1]) if len(argv) > 1 and argv[1] in ("2", "3") else proto
                reply = _hello(proto)
            else:
                reply = app.command(argv)
                if proto == 3 and reply == b"$-1\r\n":
                    reply = b"_\r\n"  # RESP3's null
            try:
                self.wfile.write(reply)
            except OSError:
                return


def _hello(proto: int) -> bytes:
    """HELLO's answer: a map in RESP3, a flat array of pairs in RESP2."""
    pairs: list[tuple[str, str | int]] = [("server", "redis"), ("version", "7.2.0"),
                                          ("proto", proto), ("id", 1), ("mode", "standalone"),
                                          ("role", "master")]
    body = b"".join(_bulk(k) + (b":%d\r\n" % v if isinstance(v, int) else _bulk(v))
                    for k, v in pairs) + _bulk("modules") + b"*0\r\n"
    count = len(pairs) + 1
    return (b"%%%d\r\n" % count if proto == 3 else b"*%d\r\n" % (2 * count)) + body


def _read_resp(rfile: Any) -> list[str] | None:
    line = rfile.readline()
    if not line:
        return None
    if line.startswith(b"*"):
        argv = []
        for _ in range(int(line[1:])):
            size = int(rfile.readline()[1:])
            argv.append(rfile.read(size + 2)[:-2].decode("utf-8", "replace"))
        return argv
    return line.decode("utf-8", "replace").split()  # inline command


def _bulk(value: str | None) -> bytes:
    if value is None:
        return b"$-1\r\n"
    data = value.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class FakeRedis(Service):
    """PING, ECHO, GET, SET, INCR, EXPIRE, DEL, EXISTS, KEYS, DBSIZE, FLUSHALL, INFO; data is
    in memory and gone on restart (the compose file runs Redis without persistence)."""

    def __init__(self, port: int, log: Log) -> None:
        super().__init__(port, log)
        self.data: dict[str, str] = {}
        self.lock = threading.Lock()
        self.commands = 0

    def _make_server(self) -> _Tracking:
        self.data = {}
        return _TCPServer(("127.0.0.1", self.port), _RespHandler, self)

    def command(self, argv: list[str]) -> bytes:  # noqa: PLR0911 - one answer per command
        if not argv:
            return b"-ERR empty command\r\n"
        name, args = argv[0].upper(), argv[1:]
        with self.lock:
            self.commands += 1
            if name == "PING":
                return _bulk(args[0]) if args else b"+PONG\r\n"
            if name == "AUTH":  # accepted, never required: the fake enforces no password
                return b"+OK\r\n"
            if name == "ECHO" and args:
                return _bulk(args[0])
            if name == "GET" and args:
                return _bulk(self.data.get(args[0]))
            if name == "SET" and len(args) >= 2:
                self.data[args[0]] = args[1]
                return b"+OK\r\n"
            if name == "INCR" and args:
                value = int(self.data.get(args[0], "0")) + 1
                self.data[args[0]] = str(value)
                return b":%d\r\n" % value
            if name in ("EXPIRE", "PEXPIRE") and args:
                return b":1\r\n" if args[0] in self.data else b":0\r\n"
            if name in ("DEL", "EXISTS"):
                found = [k for k in args if k in self.data]
                if name == "DEL":
                    for k in found:
                        del self.data[k]
                return b":%d\r\n" % len(found)
            if name == "KEYS":
                keys = sorted(self.data)
                return b"*%d\r\n" % len(keys) + b"".join(_bulk(k) for k in keys)
            if name == "STRLEN" and args:
                return b":%d\r\n" % len(self.data.get(args[0], "").encode())
            if name == "CLIENT":
                return b"+OK\r\n"
            if name == "DBSIZE":
                return b":%d\r\n" % len(self.data)
            if name in ("FLUSHALL", "FLUSHDB"):
                self.data.clear()
                return b"+OK\r\n"
            if name == "INFO":
                info = (f"# Server\r\nredis_version:7.2.0-fake\r\n# Stats\r\n"
                        f"total_commands_processed:{self.commands}\r\n"
                        f"# Keyspace\r\ndb0:keys={len(self.data)},expires=0\r\n")
                return _bulk(info)
        return f"-ERR unknown command '{argv[0]}', with args beginning with: \r\n".encode()


def resp_call(address: tuple[str, int], *argv: str, timeout: float = DEP_TIMEOUT) -> str:
    """One command to a Redis at `address`; the reply line, or OSError (as redis-py raises
    ConnectionError) when nothing answers."""
    frame = b"*%d\r\n" % len(argv) + b"".join(_bulk(a) for a in argv)
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(frame)
        with sock.makefile("rb") as reader:
            line = reader.readline()
            if not line:
                raise ConnectionError("Connection closed by server.")
            if line.startswith(b"$") and int(line[1:]) >= 0:
                return reader.read(int(line[1:]) + 2)[:-2].decode()
            if line.startswith(b"-"):
                raise ConnectionError(line[1:].decode().strip())
            return "" if line.startswith(b"$-1") else line[1:].decode().strip()


# -- PostgreSQL: the startup handshake only --------------------------------------------------


def _pg(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _pg_desc(columns: list[tuple[str, int]]) -> bytes:
    """RowDescription: every column in text format."""
    return _pg(b"T", struct.pack("!h", len(columns)) + b"".join(
        name.encode() + b"\0" + struct.pack("!ihihih", 0, 0, oid, -1, -1, 0)
        for name, oid in columns))


def _pg_data(rows: list[list[str]]) -> bytes:
    return b"".join(_pg(b"D", struct.pack("!h", len(r)) + b"".join(
        struct.pack("!i", len(v.encode())) + v.encode() for v in r)) for r in rows)


BOOL, INT4, TEXT = 16, 23, 25
_CREATE = re.compile(r"create\s+table\s+(?:if\s+not\s+exists\s+)?([\w.]+)", re.I)
_REGCLASS = re.compile(r"to_regclass\('([\w.]+)'\)\s+is\s+(not\s+)?null", re.I)


class FakeSql:
    """The few statements the harness itself sends (never the runbook's SQL): `SELECT 1`,
    `CREATE TABLE [IF NOT EXISTS] t`, `to_regclass('t') IS [NOT] NULL` and whether the jobs
    table is empty. Tables and rows live in the named volume."""

    def __init__(self, volume: Callable[[], dict[str, Any]]) -> None:
        self.volume = volume

    def answer(self, sql: str) -> tuple[list[tuple[str, int]], list[list[str]], str]:
        data = self.volume()
        tables: set[str] = data.setdefault("tables", {"jobs"})
        if m := _CREATE.search(sql):
            tables.add(m.group(1).lower())
            return [], [], "CREATE TABLE"
        if m := _REGCLASS.search(sql):
            exists = m.group(1).lower() in tables
            value = exists if m.group(2) else not exists
            if "not exists (select 1 from jobs)" in " ".join(sql.lower().split()):
                value = value or not data.get("jobs")
            return [("?column?", BOOL)], [["t" if value else "f"]], "SELECT 1"
        if re.fullmatch(r"\s*select\s+1\s*;?\s*", sql, re.I):
            return [("?column?", INT4)], [["1"]], "SELECT 1"
        return [("?column?", TEXT)], [], "SELECT 0"  # anything else: no rows


class _PgHandler(socketserver.StreamRequestHandler):
    """The wire protocol as far as libpq and psycopg need for the statements above: trust
    authentication, simple and extended queries."""

    server: _TCPServer

    def handle(self) -> None:
        sql: FakeSql = self.server.app.sql
        self.request.settimeout(30)
        try:
            head = self.rfile.read(8)
            if head in (SSL_REQUEST, struct.pack("!ii", 8, 80877104)):  # SSL / GSS requests
                self.wfile.write(b"N")
                head = self.rfile.read(8)
            if len(head) < 8:
                return
            self.rfile.read(struct.unpack("!i", head[:4])[0] - 8)  # the startup parameters
            params = [(b"server_version", b"16.0"), (b"server_encoding", b"UTF8"),
                      (b"client_encoding", b"UTF8"), (b"DateStyle", b"ISO, MDY"),
                      (b"integer_datetimes", b"on"), (b"standard_conforming_strings", b"on")]
            self.wfile.write(_pg(b"R", struct.pack("!i", 0)) + b"".join(
                _pg(b"S", k + b"\0" + v + b"\0") for k, v in params)
                + _pg(b"K", struct.pack("!ii", 1, 1)) + _pg(b"Z", b"I"))
            pending = ""
            while not self.server.closing.is_set():
                kind = self.rfile.read(1)
                if not kind or kind == b"X":
                    return
                body = self.rfile.read(struct.unpack("!i", self.rfile.read(4))[0] - 4)
                text = body.split(b"\0")
                if kind == b"Q":
                    columns, rows, tag = sql.answer(text[0].decode())
                    out = _pg_desc(columns) + _pg_data(rows) if columns else b""
                    self.wfile.write(out + _pg(b"C", tag.encode() + b"\0") + _pg(b"Z", b"I"))
                elif kind == b"P":
                    pending = text[1].decode()
                    self.wfile.write(_pg(b"1"))
                elif kind == b"B":
                    self.wfile.write(_pg(b"2"))
                elif kind == b"D":
                    columns, _, _ = sql.answer(pending)
                    self.wfile.write(_pg_desc(columns) if columns else _pg(b"n"))
                elif kind == b"E":
                    _, rows, tag = sql.answer(pending)
                    self.wfile.write(_pg_data(rows) + _pg(b"C", tag.encode() + b"\0"))
                elif kind == b"C":
                    self.wfile.write(_pg(b"3"))
                elif kind == b"S":
                    self.wfile.write(_pg(b"Z", b"I"))
        except (OSError, struct.error, IndexError, UnicodeDecodeError):
            return


class FakePostgres(Service):
    """PostgreSQL's wire protocol for `pg_isready`, the API's own check and the harness's
    few statements (see `FakeSql`); rows live in the stack's named volume."""

    def __init__(self, port: int, log: Log, volume: Callable[[], dict[str, Any]]) -> None:
        super().__init__(port, log)
        self.sql = FakeSql(volume)

    def _make_server(self) -> _Tracking:
        return _TCPServer(("127.0.0.1", self.port), _PgHandler, self)


def pg_ping(address: tuple[str, int], timeout: float = DEP_TIMEOUT) -> None:
    """libpq's first exchange (SSLRequest → 'N'); OSError when PostgreSQL does not answer."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(SSL_REQUEST)
        if sock.recv(1) not in (b"N", b"S"):
            raise ConnectionError("server closed the connection unexpectedly")


def free_port() -> int:
    """A free loopback port for one (service, port) of a stack: from the pool the local
    backend reserves across processes (a port the kernel picks could be taken a moment later
    as the local end of an outgoing connection, or by another stack)."""
    return reserved_free_port()


__all__ = ["FakePostgres", "FakeRedis", "MockLlm", "Service", "free_port"]
