"""Docker CLI option handling shared by `docker ps`, `inspect` and `volume`: `--filter`
arguments, label matches, and `--format` Go templates over inspect documents."""

from __future__ import annotations

import json
import re
from typing import Any

from harness.bridge.protocol import Completed

USAGE_ERROR = 125  # docker's status for its own errors


def parse_filters(
    args: list[str], command: str, valid: frozenset[str]
) -> dict[str, list[str]] | Completed:
    """`-f k=v` / `--filter k=v` / `--filter=k=v`, grouped by key (the daemon ORs values of
    one key and ANDs keys), checked as the CLI and then the daemon check them."""
    raw = []
    for i, a in enumerate(args):
        if a in ("-f", "--filter") and i + 1 < len(args):
            raw.append(args[i + 1])
        elif a.startswith("--filter="):
            raw.append(a.split("=", 1)[1])
    grouped: dict[str, list[str]] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep:
            return Completed(
                USAGE_ERROR,
                "",
                f'invalid argument "{item}" for "-f, --filter" flag: '
                "bad format of filter (expected name=value)\n"
                f"See 'docker {command} --help'.\n",
            )
        grouped.setdefault(key, []).append(value)
    for key in grouped:
        if key not in valid:
            return Completed(1, "", f"Error response from daemon: invalid filter '{key}'\n")
    return grouped


def label_matches(flt: str, labels: dict[str, str]) -> bool:
    key, sep, value = flt.partition("=")
    return key in labels and (not sep or labels[key] == value)


def go_template(template: str, doc: object) -> str:
    """The `{{.A.B}}` subset of Go templates that runbooks use with `docker inspect -f`."""

    def field(m: re.Match[str]) -> str:
        value: object = doc
        for part in m.group(1).split("."):
            if part:
                value = value.get(part, "<no value>") if isinstance(value, dict) else "<no value>"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)

    return re.sub(r"\{\{\s*(\.[\w.]*)\s*\}\}", field, template)


def inspect_args(args: list[str]) -> tuple[str | None, list[str]]:
    """(`--format` template or None, the names) of `docker [volume] inspect`."""
    return format_and_names(args, ("-f", "--format"))


def format_and_names(args: list[str], flags: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """(the format template or None, the names) of a command whose format option is one of
    `flags` (`docker stats` has no `-f`); other options are skipped, as their values are not
    names of theirs."""
    fmt = None
    names = []
    i = 0
    while i < len(args):
        if args[i] in flags and i + 1 < len(args):
            fmt = args[i + 1]
            i += 2
            continue
        if args[i].startswith("--format="):
            fmt = args[i].split("=", 1)[1]
        elif not args[i].startswith("-"):
            names.append(args[i])
        i += 1
    return fmt, names


def inspect_out(fmt: str | None, docs: list[dict[str, Any]]) -> str:
    if fmt is not None:
        return "".join(go_template(fmt, d) + "\n" for d in docs)
    return json.dumps(docs, indent=4) + "\n"
