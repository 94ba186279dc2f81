"""Text from the record as a person reads it: the stack's names, not loopback ports or reprs.

The runner records text as tools printed it (`results.json` keeps it that way). Before a view
shows it, this pass rewrites:

* addresses the stack really listens on (`127.0.0.1:22084`, `127.0.0.1 port 22084`,
  `port 22084 on 127.0.0.1`, `host=127.0.0.1 port=22084`, `"127.0.0.1", port 22084`) to the
  names in `GamedayResult.address_map` (`localhost:8000`, `redis:6379`);
* a loopback address the map does not know to a generic "a stack port" wording, since its
  number means nothing outside this run (the map comes from the runner; ports it leaves out,
  such as the fault proxy's links, can only be named generically here);
* Python's reprs of OS errors (`(104, 'Connection reset by peer')`, `[Errno 111] Connection
  refused`) to their message, and `reading from X : Y` to `reading from X: Y`.
"""

from __future__ import annotations

import json
import re

from harness.result import GamedayResult

_LOOPBACK = r"(?:127\.0\.0\.1|localhost|\[::1\]|::1)"
UNKNOWN_ADDRESS = "a stack port"

_ERRNO_TUPLE = re.compile(r"\((?:\d+|None), '([^'\n]*)'\)")
_ERRNO_BRACKET = re.compile(r"\[Errno -?\d+\]\s*")
_SPACED_COLON = re.compile(r"(\S) : ")


def _forms(port: str) -> list[tuple[re.Pattern[str], str]]:
    """Each way a tool prints a loopback address with this port; the replacement template
    names the shown host and port as {host} and {port}."""
    return [
        (re.compile(rf"(?<![\w.-]){_LOOPBACK}:{port}(?!\d)"), "{host}:{port}"),
        (re.compile(rf"(?<![\w.-]){_LOOPBACK} port {port}(?!\d)"), "{host} port {port}"),
        (re.compile(rf"\bport {port} on {_LOOPBACK}(?![\w.])"), "port {port} on {host}"),
        (re.compile(rf"\bhost={_LOOPBACK} port={port}(?!\d)"), "host={host} port={port}"),
        (re.compile(rf"\"{_LOOPBACK}\", port {port}(?!\d)"), '"{host}", port {port}'),
    ]


def map_addresses(text: str, address_map: dict[str, str]) -> str:
    """Rewrite every address of the map ("127.0.0.1:30441" → "localhost:8000") in each
    shape tools print it."""
    for real, name in sorted(address_map.items(), key=lambda kv: -len(kv[0])):
        _, sep, port = real.rpartition(":")
        if not sep or not port.isdigit():
            continue
        host, colon, shown_port = name.rpartition(":")
        if not colon or not shown_port.isdigit():
            host, shown_port = name, ""
        for pattern, template in _forms(port):
            if shown_port:
                text = pattern.sub(template.format(host=host, port=shown_port), text)
            else:
                text = pattern.sub(name, text)
    return text


# Only the numeric spellings: a mapped address reads `localhost:8000` and must stay.
_NUMERIC = r"(?:127\.0\.0\.1|\[::1\])"
_ANY_LOOPBACK = [
    re.compile(rf"(?<![\w.-]){_NUMERIC}:\d{{2,5}}(?!\d)"),
    re.compile(rf"(?<![\w.-]){_NUMERIC} port \d{{2,5}}(?!\d)"),
    re.compile(rf"\bport \d{{2,5}} on {_NUMERIC}(?![\w.])"),
    re.compile(rf"\bhost={_NUMERIC} port=\d{{2,5}}(?!\d)"),
]


def generic_addresses(text: str) -> str:
    """Loopback addresses no map names: a generic wording (the number is this run's only)."""
    for pattern in _ANY_LOOPBACK:
        text = pattern.sub(UNKNOWN_ADDRESS, text)
    return text


def plain_errors(text: str) -> str:
    """`(104, 'Connection reset by peer')` → `connection reset by peer`, `[Errno 111] ` gone."""
    text = _ERRNO_TUPLE.sub(lambda m: m.group(1)[:1].lower() + m.group(1)[1:], text)
    text = _ERRNO_BRACKET.sub("", text)
    return _SPACED_COLON.sub(r"\1: ", text)


def humanize(text: str, address_map: dict[str, str] | None = None) -> str:
    if not text:
        return text
    if address_map:
        text = map_addresses(text, address_map)
    return plain_errors(generic_addresses(text))


def plain(result: GamedayResult, text: str) -> str:
    """A reason, note or output line of this result as a reader should see it."""
    return humanize(text, result.address_map)


_JSON_OBJECT = re.compile(r"\{[^{}]*\}")


def _json_readable(match: re.Match[str]) -> str:
    """`{"postgres":"error: no answer","redis":"ok"}` → `(postgres: error: no answer; redis ok)`;
    anything that is not a flat object of strings stays as it was."""
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return match.group(0)
    if not isinstance(data, dict) or not data:
        return match.group(0)
    if not all(isinstance(v, str | int | float | bool) for v in data.values()):
        return match.group(0)
    fine = [k for k, v in data.items() if v == "ok"]
    bad = [f"{k}: {v}" for k, v in data.items() if v != "ok"]
    parts = bad + ([", ".join(fine) + " ok"] if fine else [])
    return "(" + "; ".join(parts) + ")"


def readable_json(text: str) -> str:
    """JSON bodies quoted in a reason, in words (`answered 503: {...}` → `answered 503 (...)`)."""

    def words(m: re.Match[str]) -> str:
        body = _JSON_OBJECT.match(m.group(1))
        shown = _json_readable(body) if body else m.group(1)
        return m.group(0) if shown == m.group(1) else " " + shown

    return re.sub(r": (\{[^{}]*\})", words, text)


def clauses(text: str) -> list[str]:
    """A reason split where the runner joined its findings (`; ` outside brackets)."""
    out: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        depth += ch in "([{"
        depth -= ch in ")]}" and depth > 0
        if ch == ";" and depth == 0 and text[i + 1 : i + 2] == " ":
            out.append("".join(current).strip())
            current = []
            i += 2
            continue
        current.append(ch)
        i += 1
    out.append("".join(current).strip())
    return [c for c in out if c]


# Leading words of the runner's reasons that start a sentence (a name never does).
_SENTENCE_WORDS = frozenset(
    [
        "after",
        "no",
        "the",
        "a",
        "an",
        "every",
        "some",
        "nothing",
        "none",
        "only",
        "once",
        "all",
        "self-healed",
        "steady",
        "while",
        "when",
    ]
)


def sentence(result: GamedayResult, text: str) -> list[str]:
    """A reason as a reader gets it: the stack's names, JSON in words, one clause a line."""
    parts = clauses(readable_json(plain(result, text)))
    first = parts[0].split(" ", 1)[0] if parts else ""
    if first in _SENTENCE_WORDS:  # never "Testgen" or "/Ready": names keep their case
        parts[0] = parts[0][:1].upper() + parts[0][1:]
    return parts
