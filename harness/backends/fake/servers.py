"""The fake stack's in-process servers: real sockets on loopback, no service behind them.

A fake container that runs has its server listening; one that does not, has none, so a
client gets `connection refused` exactly as from a dead process. Dependencies are reached
the way the real TestGen service reaches them: over the network, through the fault proxy's
links, so a cut link or a stopped dependency is seen by a real round trip.

    TestGen API (http.server) ──▶ fault proxy (harness.faultproxy, in a thread's loop)
                                   ──▶ "PostgreSQL" (startup handshake; rows in the volume)
                                   ──▶ "Redis" (a small RESP server; data in memory)
                                   ──▶ mock LLM (http.server over mockllm's own State)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.backends.local.ports import free_port as reserved_free_port
from harness.services.contract import content_key
from harness.services.mockllm import answers
from harness.services.mockllm.state import HANG_LIMIT_S, State, parse_mode
from harness.services.testgen.cache import client_id
from harness.services.testgen.config import Config

Log = Callable[[str, str], None]  # (level, message)
Resolve = Callable[[str, int], tuple[str, int]]  # service DNS: (host, port) -> loopback
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
CALL_TIMEOUT = 5.0  # as the reference service's LLM calls
CACHE_PREFIX = "testgen:"  # the reference service's Redis keys (cache-bloat poisons them)
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


# -- the fault proxy, in process ------------------------------------------------------------


class _ProxyLog(logging.Handler):
    """The fault proxy's log records into the container log of the proxy that wrote them
    (each in-process proxy runs on a thread of its own), not onto the harness's stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.by_thread: dict[str, Log] = {}

    def emit(self, record: logging.LogRecord) -> None:
        log = self.by_thread.get(threading.current_thread().name)
        if log is not None:
            log(record.levelname, record.getMessage())


_PROXY_LOG = _ProxyLog()
logging.getLogger("harness.faultproxy").addHandler(_PROXY_LOG)


class FaultProxy:
    """The project's own Toxiproxy (`harness.faultproxy`) run on an event loop in a thread:
    its REST API and its links are real, so network faults act on real connections."""

    def __init__(self, port: int, links: list[tuple[str, int, tuple[str, int]]], log: Log) -> None:
        self.port, self.links, self.log = port, links, log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        from harness.faultproxy.api import ApiServer
        from harness.faultproxy.server import Proxy, ProxyCollection

        self._ready.clear()
        self._error = None

        async def main() -> None:
            collection = ProxyCollection()
            api = ApiServer(collection)
            self._stop = asyncio.Event()
            try:
                server = await api.start("127.0.0.1", self.port)
                for name, listen, (host, port) in self.links:  # no state across restarts
                    await collection.add(Proxy(name, f"127.0.0.1:{listen}", f"{host}:{port}"), True)
            except BaseException as exc:
                collection.shutdown()
                self._error = exc
                self._ready.set()
                raise
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                server.close()
                api.close_connections()
                collection.shutdown()
                await server.wait_closed()
                await asyncio.sleep(0)

        def run() -> None:
            _PROXY_LOG.by_thread[threading.current_thread().name] = self.log
            loop = asyncio.new_event_loop()
            self._loop = loop
            with contextlib.suppress(BaseException):
                loop.run_until_complete(main())
            loop.close()
            _PROXY_LOG.by_thread.pop(threading.current_thread().name, None)

        self._thread = threading.Thread(target=run, daemon=True, name=f"fake-proxy-{self.port}")
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise OSError(f"fault proxy cannot listen: {self._error}")

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = self._stop = self._thread = None

    def healthy(self) -> bool:
        return self._ready.is_set() and self._error is None and self._thread is not None


# -- the TestGen API ----------------------------------------------------------------------------


class TestGenApi(Service):
    """The TestGen API's contract (docs/design.md §2) played from the container's configuration:
    it refuses to start without a required variable (the reference service's own `Config`
    rules), reaches PostgreSQL, Redis and the providers through the addresses it was
    created with, writes ERROR / `llm_error` / `database` lines to TESTGEN_LOG_FILE."""

    __test__ = False  # not a pytest class, whatever its name says

    def __init__(self, port: int, log: Log, env: dict[str, str], resolve: Resolve,
                 jobs: Callable[[], dict[str, dict[str, Any]]],
                 on_memory: Callable[[int], None] = lambda held: None) -> None:
        super().__init__(port, log)
        # The memory-assault hook (TESTGEN_CHAOS_HOOKS=1) holds a figure, not memory: the
        # stack compares it with mem_limit and OOM-kills the container as the kernel would.
        self.assault_bytes, self.on_memory = 0, on_memory
        self._assault = threading.Event()
        # The hook of the cache-bloat incident: every cache entry read is kept "in process".
        self.hot_cache: dict[str, int] = {}
        self.config = Config.from_env(env)  # ConfigError: the container refuses to start
        self.resolve, self.jobs = resolve, jobs
        self.requests: dict[tuple[str, str], int] = {}
        self.llm_requests: dict[tuple[str, str], int] = {}
        self.active = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(CALL_TIMEOUT, connect=2.0),
                                  trust_env=False)

    def _make_server(self) -> _Tracking:
        return _HTTPServer(("127.0.0.1", self.port), _Handler, self)

    def _address(self, url: str, default_port: int) -> tuple[str, int]:
        parts = urlsplit(url)
        return self.resolve(parts.hostname or "localhost", parts.port or default_port)

    def _url(self, url: str) -> str:
        parts = urlsplit(url)
        host, port = self._address(url, 80)
        return parts._replace(netloc=f"{host}:{port}").geturl()

    # -- dependencies ------------------------------------------------------------------
    def _db(self) -> None:
        try:
            pg_ping(self._address(self.config.database_url, 5432))
        except OSError as exc:
            raise DependencyDown(f"database unavailable: {exc or type(exc).__name__}") from None

    def _redis(self, *argv: str) -> str:
        try:
            return resp_call(self._address(self.config.redis_url, 6379), *argv)
        except OSError as exc:
            raise DependencyDown(f"redis unavailable: {exc or type(exc).__name__}") from None

    def _chain(self) -> list[str]:
        chain = [self.config.primary_llm_provider]
        return chain + ["ollama"] if self.config.local_llm_enabled else chain

    def _provider_request(self, provider: str, prompt: str) -> tuple[str, dict[str, str], Any]:
        cfg = self.config
        if provider == "openai":
            return (f"{cfg.openai_api_base}/chat/completions",
                    {"Authorization": f"Bearer {cfg.openai_api_key}"} if cfg.openai_api_key
                    else {},
                    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]})
        if provider == "anthropic":
            return (f"{cfg.anthropic_api_base}/v1/messages",
                    {"x-api-key": cfg.anthropic_api_key} if cfg.anthropic_api_key else {},
                    {"model": "claude-3-5-haiku-latest", "max_tokens": 1024,
                     "messages": [{"role": "user", "content": prompt}]})
        return (f"{cfg.ollama_base_url}/api/generate", {},
                {"model": "codellama", "prompt": prompt, "stream": False})

    def _llm(self, provider: str, prompt: str) -> str:
        url, headers, payload = self._provider_request(provider, prompt)
        try:
            r = self._http.post(self._url(url), headers=headers, json=payload)
            status = str(r.status_code)
            if r.is_success:
                body = r.json()
                text = (body["choices"][0]["message"]["content"] if provider == "openai"
                        else "".join(b.get("text", "") for b in body["content"])
                        if provider == "anthropic" else body["response"])
                self._count_llm(provider, "200")
                return str(text)
            reason = _error_reason(r)
        except httpx.TimeoutException:
            status, reason = "timeout", f"no answer within {CALL_TIMEOUT:.0f}s"
        except httpx.HTTPError as exc:
            status, reason = "unreachable", str(exc) or type(exc).__name__
        except (ValueError, KeyError, IndexError, TypeError):
            status, reason = "malformed", "malformed_response"
        self._count_llm(provider, status)
        self.log("ERROR", f"llm_error provider={provider} status={status} reason={reason}")
        raise DependencyDown(f"{provider} {status} {reason}", provider=provider, status=status)

    def _count_llm(self, provider: str, status: str) -> None:
        with self._lock:
            key = (provider, status)
            self.llm_requests[key] = self.llm_requests.get(key, 0) + 1

    # -- routes ------------------------------------------------------------------------
    def handle(self, h: _Handler, method: str, path: str) -> None:
        with self._lock:
            self.active += 1
        status = 500
        try:
            status = self._route(h, method, path)
        finally:
            with self._lock:
                self.active -= 1
                key = (path if not path.startswith("/v1/jobs/") else "/v1/jobs/{id}", str(status))
                self.requests[key] = self.requests.get(key, 0) + 1

    def _route(self, h: _Handler, method: str, path: str) -> int:  # noqa: PLR0911
        if (method, path) == ("GET", "/health"):
            return _send(h, 200, {"status": "ok"})
        if (method, path) == ("GET", "/ready"):
            return _send(h, *self._ready())
        if (method, path) == ("GET", "/metrics"):
            return _send(h, 200, self._metrics().encode(), "text/plain; version=0.0.4")
        if (method, path) == ("POST", "/v1/generate"):
            return _send(h, *self._generate(h))
        if method == "GET" and path.startswith("/v1/jobs/"):
            return _send(h, *self._job(path.rsplit("/", 1)[-1]))
        if path == "/_chaos/memory" and self.config.chaos_hooks:
            return _send(h, *self._memory(method, h._body() if method == "POST" else None))
        return _send(h, 404, {"detail": "Not Found"})

    def _ready(self) -> tuple[int, Any]:
        results: dict[str, str] = {}
        for name, check in (("postgres", self._db), ("redis", lambda: self._redis("PING")),
                            ("llm", self._llm_check)):
            try:
                check()
                results[name] = "ok"
            except DependencyDown as exc:
                results[name] = f"error: {exc}"
        ok = all(v == "ok" for v in results.values())
        if not ok:
            self.log("WARNING", "not ready " + " ".join(f"{k}={v!r}" for k, v in results.items()))
        return (200 if ok else 503), results

    def _llm_check(self) -> None:
        reasons = []
        for provider in self._chain():
            url = {"openai": f"{self.config.openai_api_base}/models",
                   "anthropic": f"{self.config.anthropic_api_base}/v1/models"}.get(
                provider, f"{self.config.ollama_base_url}/api/tags")
            key = self.config.openai_api_key if provider == "openai" \
                else self.config.anthropic_api_key
            headers = {} if provider == "ollama" else (
                {"Authorization": f"Bearer {key}"} if provider == "openai" else {"x-api-key": key})
            try:
                r = self._http.get(self._url(url), headers=headers, timeout=DEP_TIMEOUT)
                if r.is_success:
                    return
                reasons.append(f"{provider} {r.status_code}")
            except httpx.HTTPError as exc:
                reasons.append(f"{provider} unreachable {type(exc).__name__}")
        raise DependencyDown("; ".join(reasons))

    def _generate(self, h: _Handler) -> tuple[int, Any]:
        body = h._body()
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body[k].strip() for k in ("language", "source")
        ):
            return 400, {"error": "language and source must be non-empty strings"}
        language, source = body["language"], body["source"]
        key = content_key(language, source)
        redis_ok, limit = True, self.config.llm_rate_limit
        try:
            if limit > 0:
                client = client_id({k.lower(): v for k, v in h.headers.items()},
                                   h.client_address[0])
                minute = int(time.time() // 60)
                count = int(self._redis("INCR", f"{CACHE_PREFIX}ratelimit:{client}:{minute}"))
                if count > limit:
                    return 429, {"error": "rate limit exceeded", "limit_per_minute": limit}
            cached = self._redis("GET", f"{CACHE_PREFIX}cache:{key}")
        except DependencyDown as exc:
            self.log("ERROR", f"{exc} action=degraded")
            redis_ok, cached = False, ""
        if cached:
            entry = json.loads(cached)
            tests, provider = entry["tests"], entry.get("provider", "unknown")
            if self.config.chaos_hooks:
                self.hot_cache[key] = len(cached)
                self.on_memory(self.held_bytes)
        else:
            prompt = f"Write pytest unit tests for the following {language} code.\n\n{source}"
            failures: list[DependencyDown] = []
            for provider in self._chain():
                try:
                    tests = self._llm(provider, prompt)
                    break
                except DependencyDown as exc:
                    failures.append(exc)
            else:
                last = failures[-1]
                return 502, {"error": "LLM provider unavailable", "provider": last.provider,
                             "provider_status": last.status, "reason": str(last)}
            if redis_ok:
                with contextlib.suppress(DependencyDown):
                    self._redis("SET", f"{CACHE_PREFIX}cache:{key}",
                                json.dumps({"tests": tests, "provider": provider}))
        job_id = str(uuid.uuid4())
        try:
            self._db()
        except DependencyDown as exc:
            self.log("ERROR", f"{exc} op=insert_job")
            return 500, {"error": "database unavailable"}
        self.jobs()[job_id] = {"id": job_id, "language": language, "content_hash": key,
                               "tests": tests, "provider": provider}
        return 200, {"job_id": job_id, "tests": tests, "provider": provider,
                     "cached": bool(cached)}

    @property
    def held_bytes(self) -> int:
        return self.assault_bytes + sum(self.hot_cache.values())

    def _memory(self, method: str, body: Any) -> tuple[int, Any]:
        if method == "DELETE":
            self._assault.set()
            freed, self.assault_bytes = self.assault_bytes, 0
            self.log("WARNING", f"chaos memory released freed_mb={freed >> 20}")
            return 200, {"freed_mb": freed >> 20}
        if method == "GET":
            return 200, {"held_mb": self.held_bytes >> 20}
        body = body if isinstance(body, dict) else {}
        mb, step, interval = (int(body.get(k, d)) for k, d in
                              (("mb", 64), ("step_mb", 16), ("interval_ms", 20)))
        self._assault = done = threading.Event()
        self.log("WARNING", f"chaos memory assault mb={mb} step_mb={step} interval_ms={interval}")

        def grow() -> None:
            target = self.assault_bytes + mb * 2**20
            while self.assault_bytes < target and not done.wait(interval / 1000):
                if self._server is None:
                    return
                self.assault_bytes = min(target, self.assault_bytes + step * 2**20)
                self.on_memory(self.held_bytes)

        threading.Thread(target=grow, daemon=True, name=f"fake-memory-{self.port}").start()
        return 202, {"status": "allocating", "mb": mb}

    def stop(self) -> None:
        self._assault.set()
        super().stop()
        self._http.close()

    def _job(self, job_id: str) -> tuple[int, Any]:
        try:
            self._db()
        except DependencyDown as exc:
            self.log("ERROR", f"{exc} op=get_job")
            return 500, {"error": "database unavailable"}
        job = self.jobs().get(job_id)
        return (200, job) if job else (404, {"error": "job not found"})

    def _metrics(self) -> str:
        with self._lock:
            lines = ["# TYPE http_requests_total counter"]
            lines += [f'http_requests_total{{path="{p}",status="{s}"}} {n}'
                      for (p, s), n in sorted(self.requests.items())]
            lines += ["# TYPE active_requests gauge", f"active_requests {self.active}",
                      "# TYPE llm_requests_total counter"]
            lines += [f'llm_requests_total{{provider="{p}",status="{s}"}} {n}'
                      for (p, s), n in sorted(self.llm_requests.items())]
        lines += ["# TYPE process_resident_memory_bytes gauge",
                  f"process_resident_memory_bytes {48 * 2**20}"]
        return "\n".join(lines) + "\n"


class DependencyDown(Exception):
    def __init__(self, message: str, provider: str = "", status: str = "") -> None:
        super().__init__(message)
        self.provider, self.status = provider, status


def _send(h: _Handler, status: int, body: Any, content_type: str = "application/json") -> int:
    h.reply(status, body, {"Retry-After": "60"} if status == 429 else None, content_type)
    return status


def _error_reason(response: httpx.Response) -> str:
    try:
        err = response.json().get("error")
    except (ValueError, AttributeError):
        return f"http_{response.status_code}"
    if isinstance(err, dict):
        return str(err.get("code") or err.get("type") or f"http_{response.status_code}")
    return str(err or f"http_{response.status_code}")


def free_port() -> int:
    """A free loopback port for one (service, port) of a stack: from the pool the local
    backend reserves across processes (a port the kernel picks could be taken a moment later
    as the local end of an outgoing connection, or by another stack)."""
    return reserved_free_port()


__all__ = ["FakePostgres", "FakeRedis", "FaultProxy", "MockLlm", "Service", "TestGenApi",
           "free_port"]
