"""Container healthcheck: `python -m harness.services.probe URL [--timeout S]`.

Exit status 0 when GET URL answers 2xx within the timeout (default 2 s, for the whole
exchange, not per socket operation), else 1 with one line on stderr (usage errors too).
Stdlib only, so it starts fast and runs in any image that has Python.
"""

from __future__ import annotations

import signal
import sys
import urllib.error
import urllib.request

DEFAULT_TIMEOUT = 2.0


class _Deadline(Exception):
    pass


def _expired(signum: int, frame: object) -> None:
    raise _Deadline


def probe(url: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """(healthy, what happened)."""
    if not url.startswith(("http://", "https://")):
        return False, f"not an http(s) URL: {url}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxies
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout) as resp:
            status = resp.status
            resp.read(65536)
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except _Deadline:
        return False, f"no answer within {timeout:g}s"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, _Deadline):
            return False, f"no answer within {timeout:g}s"
        return False, str(reason)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return 200 <= status < 300, f"HTTP {status}"


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
