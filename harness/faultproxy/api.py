"""Toxiproxy's v2 REST API over a small HTTP/1.1 server on asyncio streams.

Hand-written rather than Starlette on uvicorn: importing those costs a few hundred
milliseconds, and the whole stack must be up in about 1.5 s. The HTTP subset is what
Toxiproxy's clients use: JSON bodies sized by Content-Length (or chunked), keep-alive.

Routes, status codes and JSON shapes follow Toxiproxy's `api.go`:

    GET    /version                         200 {"version": ...}
    *      /metrics                         200 Prometheus text (with -proxy-metrics or
                                                -runtime-metrics; else 404, as Toxiproxy)
    POST   /reset                           204
    GET    /proxies                         200 {name: proxy, ...}
    POST   /proxies                         201 proxy            409 exists, 400 bad body
    POST   /populate                        201 {"proxies": [proxy, ...]}
    GET    /proxies/{proxy}                 200 proxy            404 missing
    POST   /proxies/{proxy}  (or PATCH)     200 proxy (update)
    DELETE /proxies/{proxy}                 204
    GET    /proxies/{proxy}/toxics          200 [toxic, ...]
    POST   /proxies/{proxy}/toxics          200 toxic            409 exists, 400 bad type
    GET    /proxies/{proxy}/toxics/{toxic}  200 toxic
    POST   /proxies/{proxy}/toxics/{toxic}  200 toxic (update; or PATCH)
    DELETE /proxies/{proxy}/toxics/{toxic}  204

Answers are framed as Toxiproxy's Go server frames them, since clients see it:
- success: `Content-Type: application/json`;
- API errors: the JSON `{"error": message, "status": code}` plus a newline, sent as
  `text/plain; charset=utf-8` (Go's `http.Error`, which Toxiproxy's `apiError` calls);
- an unknown path: `404 page not found` in plain text; a known path with another
  method: 405 with an empty body (gorilla/mux);
- every routed request gets an `X-Toxiproxy-Request-Id` header (an xid, as zerolog's
  `hlog.RequestIDHandler` makes); 404 and 405 get none, as there no middleware runs.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from . import errors
from .errors import ApiError
from .server import Proxy, ProxyCollection, ToxicEntry
from .toxics import TOXICS, BadAttributes

log = logging.getLogger("harness.faultproxy")

# The Toxiproxy release whose API this server implements, then (as SemVer build
# metadata, which version comparisons ignore) what it really is.
TOXIPROXY_API_VERSION = "2.12.0"
FAULTPROXY_VERSION = "0.2.0"
VERSION = f"{TOXIPROXY_API_VERSION}+faultproxy.{FAULTPROXY_VERSION}"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_HEADERS = 100
MAX_REQUESTS_PER_CONNECTION = 100_000
IDLE_TIMEOUT_SECONDS = 60.0
READ_TIMEOUT_SECONDS = 15.0  # Toxiproxy's read_timeout

JSON = "application/json"
PLAIN_TEXT = "text/plain; charset=utf-8"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

# Toxiproxy's stream.ParseDirection: the full names only, in any case.
_STREAM_NAMES = {"upstream": "upstream", "downstream": "downstream"}

Handler = Callable[..., Awaitable[Any]]


@dataclass
class Reply:
    """A response other than a handler's plain (status, JSON payload)."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    """Which of Toxiproxy's metric sets `/metrics` serves (`-proxy-metrics`,
    `-runtime-metrics`); with neither, there is no `/metrics`."""

    proxy: bool = False
    runtime: bool = False

    @property
    def any(self) -> bool:
        return self.proxy or self.runtime


class RequestIds:
    """xid-style request ids: 12 bytes (time, machine, pid, counter) in 20 base32hex
    characters, the shape of the ids Toxiproxy puts in `X-Toxiproxy-Request-Id`."""

    def __init__(self) -> None:
        self._machine = random.randbytes(3)
        self._pid = (os.getpid() & 0xFFFF).to_bytes(2, "big")
        self._counter = itertools.count(random.randrange(1 << 24))

    def next(self) -> str:
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + self._pid
            + (next(self._counter) & 0xFFFFFF).to_bytes(3, "big")
        )
        return base64.b32hexencode(raw).decode().rstrip("=").lower()


class _BadHttp(Exception):
    """The bytes on the API socket are not an HTTP/1.1 request we can answer."""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class ApiServer:
    """Serves the REST API for one `ProxyCollection`."""

    def __init__(self, collection: ProxyCollection, metrics: Metrics | None = None) -> None:
        self.collection = collection
        self.metrics = metrics or Metrics()
        self._request_ids = RequestIds()
        self._writers: set[asyncio.StreamWriter] = set()
        # Toxiproxy's server handles one API request at a time per proxy collection
        # (its handlers take the collection's lock); so do we, across awaits.
        self._lock = asyncio.Lock()

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(
            self.handle_connection, host, port, limit=MAX_HEAD_BYTES, reuse_address=True
        )

    def close_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()

    # -- HTTP/1.1 ----------------------------------------------------------------------

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                try:
                    request = await _read_request(reader)
                except _BadHttp as exc:
                    # Go's server answers bad framing in plain text and hangs up.
                    reply = Reply(400, f"400 Bad Request: {exc}".encode(), PLAIN_TEXT)
                    writer.write(_frame(reply, keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    return
                reply = await self.dispatch(request)
                writer.write(_frame(reply, request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    return
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    # -- routing -----------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Reply:
        """Answer one request. Never raises."""
        try:
            handler, args = self._route(request.method, request.path)
        except ApiError as exc:
            if exc is errors.METHOD_NOT_ALLOWED:
                return Reply(405)
            return Reply(404, b"404 page not found\n", PLAIN_TEXT)
        reply = await self._answer(request, handler, args)
        reply.headers["X-Toxiproxy-Request-Id"] = self._request_ids.next()
        return reply

    async def _answer(self, request: Request, handler: Handler, args: list[str]) -> Reply:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            # Toxiproxy refuses browsers, so a web page cannot drive it across origins.
            return Reply(403, b"User agent not allowed\n", PLAIN_TEXT, _NOSNIFF.copy())
        try:
            async with self._lock:
                result = await handler(request.body, *args)
        except ApiError as exc:
            return _error_reply(exc)
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.path)
            return _error_reply(ApiError(f"internal error: {exc}", 500))
        if isinstance(result, Reply):
            return result
        status, payload = result
        if payload is None:
            return Reply(status)
        return Reply(status, _compact_json(payload), JSON)

    def _route(self, method: str, path: str) -> tuple[Handler, list[str]]:
        segments = [unquote(part) for part in path.split("?", 1)[0].split("/")[1:]]
        if any(not part for part in segments):
            raise errors.NOT_FOUND
        routes: dict[str, Handler]
        args: list[str]
        match segments:
            case ["version"]:
                routes, args = {"GET": self.version}, []
            case ["metrics"] if self.metrics.any:
                return self.metrics_text, []
            case ["reset"]:
                routes, args = {"POST": self.reset}, []
            case ["populate"]:
                routes, args = {"POST": self.populate}, []
            case ["proxies"]:
                routes, args = {"GET": self.proxy_index, "POST": self.proxy_create}, []
            case ["proxies", proxy]:
                routes = {
                    "GET": self.proxy_show,
                    "POST": self.proxy_update,
                    "PATCH": self.proxy_update,
                    "DELETE": self.proxy_delete,
                }
                args = [proxy]
            case ["proxies", proxy, "toxics"]:
                routes, args = {"GET": self.toxic_index, "POST": self.toxic_create}, [proxy]
            case ["proxies", proxy, "toxics", toxic]:
                routes = {
                    "GET": self.toxic_show,
                    "POST": self.toxic_update,
                    "PATCH": self.toxic_update,
                    "DELETE": self.toxic_delete,
                }
                args = [proxy, toxic]
            case _:
                raise errors.NOT_FOUND
        handler = routes.get(method)
        if handler is None:
            raise errors.METHOD_NOT_ALLOWED
        return handler, args

    # -- handlers ----------------------------------------------------------------------

    async def version(self, body: bytes) -> Reply:
        # Toxiproxy writes this one by hand: its own content type and a newline.
        text = json.dumps({"version": VERSION}) + "\n"
        return Reply(200, text.encode(), "application/json;charset=utf-8")

    async def metrics_text(self, body: bytes) -> Reply:
        parts: list[str] = []
        if self.metrics.proxy:
            parts.append(_proxy_metrics(self.collection))
        if self.metrics.runtime:
            parts.append(_runtime_metrics())
        return Reply(200, "".join(parts).encode(), PROMETHEUS_TEXT)

    async def reset(self, body: bytes) -> tuple[int, Any]:
        await self.collection.reset()
        return 204, None

    async def proxy_index(self, body: bytes) -> tuple[int, Any]:
        return 200, {name: proxy.to_json() for name, proxy in self.collection.proxies.items()}

    async def proxy_create(self, body: bytes) -> tuple[int, Any]:
        fields = _object(_decode(body))
        name = _text(fields, "name", "")
        listen = _text(fields, "listen", "") or "127.0.0.1:0"
        upstream = _text(fields, "upstream", "")
        enabled = _flag(fields, "enabled", True)
        if not name:
            raise errors.MISSING_FIELD.detail("name")
        if not upstream:
            raise errors.MISSING_FIELD.detail("upstream")
        # As in Toxiproxy, the upstream is only dialled when a client connects (one
        # without a port then just closes that client), and a listen address that
        # cannot be bound is a 500 from the bind.
        proxy = Proxy(name, listen, upstream)
        await self.collection.add(proxy, start=enabled)
        return 201, proxy.to_json()

    async def populate(self, body: bytes) -> tuple[int, Any]:
        # Toxiproxy answers every populate, failed or not, as JSON with a "proxies" key
        # (null when nothing was applied), never through its plain-text error path.
        done: list[Proxy] = []
        try:
            planned = _planned_proxies(_decode(body))
            for proxy, enabled in planned:
                done.append(await self.collection.add_or_replace(proxy, start=enabled))
        except ApiError as exc:
            return exc.status, {**exc.to_json(), "proxies": _proxies_json(done)}
        return 201, {"proxies": _proxies_json(done)}

    async def proxy_show(self, body: bytes, name: str) -> tuple[int, Any]:
        return 200, self.collection.get(name).to_json()

    async def proxy_update(self, body: bytes, name: str) -> tuple[int, Any]:
        proxy = self.collection.get(name)
        fields = _object(_decode(body))
        listen = _text(fields, "listen", proxy.listen)
        upstream = _text(fields, "upstream", proxy.upstream)
        enabled = _flag(fields, "enabled", proxy.enabled)
        await proxy.update(listen, upstream, enabled)
        return 200, proxy.to_json()

    async def proxy_delete(self, body: bytes, name: str) -> tuple[int, Any]:
        self.collection.remove(name)
        return 204, None

    async def toxic_index(self, body: bytes, name: str) -> tuple[int, Any]:
        return 200, [entry.to_json() for entry in self.collection.get(name).all_toxics()]

    async def toxic_create(self, body: bytes, name: str) -> tuple[int, Any]:
        proxy = self.collection.get(name)
        fields = _object(_decode(body))
        stream = _STREAM_NAMES.get(_text(fields, "stream", "downstream").lower())
        if stream is None:  # "up" and "down" too: Toxiproxy knows only the full names
            raise errors.INVALID_STREAM
        toxic_type = _text(fields, "type", "")
        toxic_name = _text(fields, "name", "") or f"{toxic_type}_{stream}"
        toxicity = _toxicity(fields, 1.0)
        toxic_class = TOXICS.get(toxic_type)
        if toxic_class is None:
            raise errors.INVALID_TOXIC_TYPE
        if proxy.find_toxic(toxic_name) is not None:
            raise errors.TOXIC_ALREADY_EXISTS
        try:
            toxic = toxic_class(_attributes(fields))
        except BadAttributes as exc:
            raise errors.BAD_REQUEST_BODY.detail(exc) from exc
        entry = ToxicEntry(toxic_name, toxic_type, stream, toxicity, toxic)
        proxy.add_toxic(entry)
        return 200, entry.to_json()

    async def toxic_show(self, body: bytes, name: str, toxic_name: str) -> tuple[int, Any]:
        return 200, _find_toxic(self.collection.get(name), toxic_name).to_json()

    async def toxic_update(self, body: bytes, name: str, toxic_name: str) -> tuple[int, Any]:
        proxy = self.collection.get(name)
        entry = _find_toxic(proxy, toxic_name)
        fields = _object(_decode(body))
        toxicity = _toxicity(fields, entry.toxicity)
        try:
            toxic = entry.toxic.updated(_attributes(fields))
        except BadAttributes as exc:
            raise errors.BAD_REQUEST_BODY.detail(exc) from exc
        proxy.update_toxic(entry, toxic, toxicity)
        return 200, entry.to_json()

    async def toxic_delete(self, body: bytes, name: str, toxic_name: str) -> tuple[int, Any]:
        self.collection.get(name).remove_toxic(toxic_name)
        return 204, None


# -- request bodies ------------------------------------------------------------------


def _planned_proxies(items: Any) -> list[tuple[Proxy, bool]]:
    """A populate body checked whole before anything changes, as Toxiproxy does. A name
    given twice is applied twice, in order, so the later one wins (Toxiproxy 2.12)."""
    if not isinstance(items, list):
        raise errors.BAD_REQUEST_BODY.detail("expected a JSON array of proxies")
    planned: list[tuple[Proxy, bool]] = []
    for number, item in enumerate(items, start=1):
        fields = _object(item)
        name = _text(fields, "name", "")
        upstream = _text(fields, "upstream", "")
        listen = _text(fields, "listen", "") or "127.0.0.1:0"
        enabled = _flag(fields, "enabled", True)
        if not name:
            raise errors.MISSING_FIELD.detail(f"name at proxy {number}")
        if not upstream:
            raise errors.MISSING_FIELD.detail(f"upstream at proxy {number}")
        planned.append((Proxy(name, listen, upstream), enabled))
    return planned


def _proxies_json(proxies: list[Proxy]) -> list[dict[str, Any]] | None:
    return [proxy.to_json() for proxy in proxies] or None


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BAD_REQUEST_BODY.detail(exc) from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.BAD_REQUEST_BODY.detail("expected a JSON object")
    return value


def _text(fields: dict[str, Any], key: str, default: str) -> str:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise errors.BAD_REQUEST_BODY.detail(f"{key} must be a string")
    return value


def _flag(fields: dict[str, Any], key: str, default: bool) -> bool:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise errors.BAD_REQUEST_BODY.detail(f"{key} must be true or false")
    return value


def _toxicity(fields: dict[str, Any], default: float) -> float:
    value = fields.get("toxicity")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise errors.BAD_REQUEST_BODY.detail("toxicity must be a number from 0 to 1")
    return float(value)


def _attributes(fields: dict[str, Any]) -> dict[str, Any]:
    value = fields.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.BAD_REQUEST_BODY.detail("attributes must be a JSON object")
    return value


def _find_toxic(proxy: Proxy, name: str) -> ToxicEntry:
    entry = proxy.find_toxic(name)
    if entry is None:
        raise errors.TOXIC_NOT_FOUND
    return entry


# -- HTTP framing --------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a keep-alive connection; None when the client is done."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_SECONDS)
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadHttp("incomplete request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise _BadHttp("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
        raise _BadHttp("malformed request line")
    method, target, version = request_line
    headers: dict[str, str] = {}
    header_lines = [line for line in lines[1:] if line]
    if len(header_lines) > MAX_HEADERS:
        raise _BadHttp("too many headers")
    for line in header_lines:
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise _BadHttp("malformed header line")
        headers[key.strip().lower()] = value.strip()
    body = await asyncio.wait_for(_read_body(reader, headers), READ_TIMEOUT_SECONDS)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, target, headers, body, keep_alive)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:  # bounded: every pass consumes a chunk, and MAX_BODY_BYTES caps them
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BadHttp("malformed chunk size") from exc
            total += size
            if size < 0 or total > MAX_BODY_BYTES:
                raise _BadHttp("request body too large")
            if size == 0:
                for _ in range(MAX_HEADERS):  # skip trailers up to the blank line
                    if await reader.readuntil(b"\r\n") == b"\r\n":
                        return b"".join(parts)
                raise _BadHttp("too many trailers")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise _BadHttp("malformed Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise _BadHttp("request body too large")
    return await reader.readexactly(length) if length else b""


_NOSNIFF = {"X-Content-Type-Options": "nosniff"}


def _compact_json(payload: Any) -> bytes:
    """JSON without spaces, as Go's encoding/json writes it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def _error_reply(error: ApiError) -> Reply:
    body = _compact_json(error.to_json()) + b"\n"
    return Reply(error.status, body, PLAIN_TEXT, _NOSNIFF.copy())


def _frame(reply: Reply, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(reply.status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {reply.status} {reason}", f"Content-Length: {len(reply.body)}"]
    if reply.content_type:
        lines.append(f"Content-Type: {reply.content_type}")
    lines.extend(f"{key}: {value}" for key, value in reply.headers.items())
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


# -- /metrics ------------------------------------------------------------------------

_BYTE_COUNTERS = (
    ("toxiproxy_proxy_received_bytes_total", "Bytes the proxy read, per link direction."),
    ("toxiproxy_proxy_sent_bytes_total", "Bytes the proxy wrote, per link direction."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _proxy_metrics(collection: ProxyCollection) -> str:
    """Toxiproxy's `-proxy-metrics` counters, in Prometheus' text format. Unlike
    Toxiproxy, which adds a connection's bytes when it closes, open connections count."""
    counts = sorted(collection.byte_counts().items())
    lines: list[str] = []
    for index, (name, help_text) in enumerate(_BYTE_COUNTERS):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for (direction, proxy, listener, upstream), pair in counts:
            labels = (
                f'direction="{_label(direction)}",listener="{_label(listener)}",'
                f'proxy="{_label(proxy)}",upstream="{_label(upstream)}"'
            )
            lines.append(f"{name}{{{labels}}} {pair[index]}")
    return "\n".join(lines) + "\n"


def _runtime_metrics() -> str:
    """`-runtime-metrics`: process_* as Toxiproxy has them; python_* in place of go_*.
    Imported here, not at start: prometheus_client costs a start that must stay fast."""
    import prometheus_client

    return prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
