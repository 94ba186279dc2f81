"""A typed client for one Toxiproxy v2 API server: the real Toxiproxy, or the project's
own `python -m harness.faultproxy`, which speaks the same API.

    from harness.toxiproxy import Toxiproxy, ToxiproxyError

    with Toxiproxy("http://127.0.0.1:8474") as proxy_api:
        redis = proxy_api.create_proxy("redis", "127.0.0.1:0", upstream="127.0.0.1:6379")
        host, port = redis["listen"].rsplit(":", 1)      # port 0: the server chose one
        proxy_api.add_toxic("redis", "latency", {"latency": 500, "jitter": 50})
        ...                                              # the app now sees a slow Redis
        proxy_api.update_proxy("redis", enabled=False)   # ... and now none at all
        proxy_api.reset()                                # every proxy up, no toxics

Errors the API reports raise `ToxiproxyError(status, message)`; a server that cannot
be reached raises it with status 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, NotRequired, TypedDict, cast
from urllib.parse import quote

import httpx

from harness.errors import HarnessError
from harness.tls import shared_context


class ToxicInfo(TypedDict):
    name: str
    type: str
    stream: str  # "upstream" (client -> upstream) or "downstream" (upstream -> client)
    toxicity: float  # the share of connections the toxic applies to, 0..1
    attributes: dict[str, Any]


class ProxyInfo(TypedDict):
    name: str
    listen: str  # host:port the proxy listens on (the real port once enabled)
    upstream: str
    enabled: bool
    toxics: list[ToxicInfo]


class ProxySpec(TypedDict):
    """One proxy of a `populate` call."""

    name: str
    upstream: str
    listen: NotRequired[str]
    enabled: NotRequired[bool]


class ToxiproxyError(HarnessError):
    """The proxy server refused a request (status 4xx/5xx), or is unreachable (status 0)."""

    def __init__(self, status: int, message: str, request: str = "") -> None:
        where = f"toxiproxy {request}" if request else "toxiproxy"
        super().__init__(f"{where}: {status} {message}" if status else f"{where}: {message}")
        self.status = status
        self.message = message  # the server's own words, e.g. "proxy not found"


# Not toxiproxy-python: it keeps the server's host and port on the class, so two stacks in
# one process would drive the same server.
class Toxiproxy:
    """Client for the Toxiproxy server at `base_url` (e.g. "http://127.0.0.1:8474")."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, verify=shared_context())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Toxiproxy({self.base_url!r})"

    # -- server ------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (older Toxiproxy answers in plain text)."""
        response = self._request("GET", "/version")
        try:
            return str(response.json()["version"])
        except (ValueError, KeyError, TypeError):
            return response.text.strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset")

    # -- proxies -----------------------------------------------------------------------

    def proxies(self) -> dict[str, ProxyInfo]:
        return cast(dict[str, ProxyInfo], self._request("GET", "/proxies").json())

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyInfo:
        """Create a proxy; `listen` with port 0 gets a free port, reported in the result."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return cast(ProxyInfo, self._request("POST", "/proxies", body).json())

    def populate(self, proxies: Iterable[ProxySpec | Mapping[str, Any]]) -> list[ProxyInfo]:
        """Create or replace proxies in one call; ones that are unchanged are kept."""
        body = [dict(proxy) for proxy in proxies]
        created = self._request("POST", "/populate", body).json()["proxies"]
        return cast(list[ProxyInfo], created or [])  # Toxiproxy answers null for none

    def get_proxy(self, name: str) -> ProxyInfo:
        return cast(ProxyInfo, self._request("GET", _proxy_path(name)).json())

    def update_proxy(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        listen: str | None = None,
        upstream: str | None = None,
    ) -> ProxyInfo:
        """Change a proxy; disabling it closes its listener and drops its connections."""
        body = {
            key: value
            for key, value in (("enabled", enabled), ("listen", listen), ("upstream", upstream))
            if value is not None
        }
        return cast(ProxyInfo, self._request("PATCH", _proxy_path(name), body).json())

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", _proxy_path(name))

    # -- toxics ------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        return cast(list[ToxicInfo], self._request("GET", _proxy_path(proxy, "toxics")).json())

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> ToxicInfo:
        """Add a toxic; its name defaults (server side) to `<type>_<stream>`."""
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name is not None:
            body["name"] = name
        path = _proxy_path(proxy, "toxics")
        return cast(ToxicInfo, self._request("POST", path, body).json())

    def get_toxic(self, proxy: str, name: str) -> ToxicInfo:
        path = _proxy_path(proxy, "toxics", name)
        return cast(ToxicInfo, self._request("GET", path).json())

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        """Change some attributes (the others keep their values) or the toxicity."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = _proxy_path(proxy, "toxics", name)
        return cast(ToxicInfo, self._request("PATCH", path, body).json())

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._request("DELETE", _proxy_path(proxy, "toxics", name))

    # -- transport ---------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(
                0, f"cannot reach {self.base_url} ({exc}); is the proxy server running?"
            ) from exc
        if response.is_success:
            return response
        try:
            message = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            message = response.text.strip() or response.reason_phrase
        raise ToxiproxyError(response.status_code, message, f"{method} {path}")


def _proxy_path(proxy: str, *rest: str) -> str:
    return "/".join(["/proxies", *(quote(part, safe="") for part in (proxy, *rest))])
