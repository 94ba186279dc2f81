"""Container healthcheck: `python -m harness.services.probe URL [--timeout S]`.

Exit status 0 when GET URL answers 2xx within the timeout (default 2 s, for the whole
exchange, not per socket operation), else 1 with one line on stderr (usage errors too).
Stdlib only, so it starts fast and runs in any image that has Python.

An http URL is asked over a plain socket (HTTP/1.1, `Connection: close`): the engine runs
this probe in the container at every check, and urllib's imports (ssl, email, http.client)
were three quarters of its CPU (~34 of 43 ms). https goes through urllib, imported then.
"""

from __future__ import annotations

import signal
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_TIMEOUT = 2.0


class _Deadline(Exception):
    pass


def _expired(signum: int, frame: object) -> None:
    raise _Deadline


def probe(url: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """(healthy, what happened)."""
    if not url.startswith(("http://", "https://")):
        return False, f"not an http(s) URL: {url}"
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        status = _get_http(url, timeout) if url.startswith("http://") else _get_https(url, timeout)
    except _Deadline:
        return False, f"no answer within {timeout:g}s"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, _Deadline):
            return False, f"no answer within {timeout:g}s"
        return False, str(reason)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return 200 <= status < 300, f"HTTP {status}"


def _get_http(url: str, timeout: float) -> int:
    """GET over a socket; the status code (ValueError for a URL or an answer not HTTP's).
    The answer is read to its end (its length, its last chunk, or the server's close; at
    most 64 KiB, as urllib's probe read it): a body that never comes is no answer."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in {url}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: gameday-probe"
               "\r\nAccept: */*\r\nConnection: close\r\n\r\n")  # fmt: skip
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as sock:
        sock.sendall(request.encode("ascii"))
        answer = b""
        while not _complete(answer) and len(answer) < 65536:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.partition(b"\r\n")[0].split(None, 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not (
        status_line[1].isdigit()
    ):
        raise ValueError(f"not an HTTP answer: {answer[:40]!r}")
    return int(status_line[1])


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        return body.endswith(b"0\r\n\r\n")
    for line in headers.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = line.partition(b":")[2].strip()
            return length.isdigit() and len(body) >= int(length)
    return False  # no length: the server's close ends it


def _get_https(url: str, timeout: float) -> int:
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxies
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout) as resp:
            resp.read(65536)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    timeout = DEFAULT_TIMEOUT
    if len(args) == 3 and args[1] == "--timeout":
        try:
            timeout = float(args[2])
        except ValueError:
            args = []
        args = args[:1]
    if len(args) != 1:
        # 1, not 2: Docker reserves healthcheck status 2, and a bad probe is an unhealthy one.
        print("usage: python -m harness.services.probe URL [--timeout S]", file=sys.stderr)
        return 1
    healthy, detail = probe(args[0], timeout)
    if not healthy:
        print(f"probe: {args[0]}: {detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
