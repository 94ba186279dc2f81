"""Logging: one line per event, `2026-11-26T17:00:00.123Z LEVEL message key=value`.

Lines go to stderr (what `docker logs` shows) and, when configured, are appended to
TESTGEN_LOG_FILE. Every line is forced onto one line and scrubbed of secret values (API
keys, the secret key, passwords in URLs) before it is written anywhere.

Markers the runbook greps for: `ERROR` (failures only), `llm_error` (provider failures),
`database` (PostgreSQL failures only). Normal operation writes none of them.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterable

LOGGER_NAME = "testgen"
_SPACES = re.compile(r"\s+")
_BARE = re.compile(r"^[A-Za-z0-9_./:@+,\-\[\]{}()<>%*#!?]+$")


def fmt_value(value: object) -> str:
    """A key=value value: bare when safe, else double-quoted."""
    text = _SPACES.sub(" ", str(value)).strip()
    if text and _BARE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kv(**fields: object) -> str:
    return " ".join(f"{k}={fmt_value(v)}" for k, v in fields.items())


def timestamp(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class LineFormatter(logging.Formatter):
    """Single-line records, secrets replaced by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += " " + kv(exc=f"{type(exc).__name__}: {exc}")
        message = _SPACES.sub(" ", message).strip()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return f"{timestamp(record.created)} {record.levelname} {message}"


def log_file_handler(path: str) -> logging.Handler:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Watched: the file is reopened if an operator (or the harness) moves or deletes it.
    return logging.handlers.WatchedFileHandler(path, mode="a", encoding="utf-8")


def setup(log_file: str, secrets: Iterable[str] = ()) -> logging.Logger:
    """Configure the service's logger (and uvicorn's) to stderr and the log file."""
    formatter = LineFormatter(secrets)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(log_file_handler(log_file))
    for handler in handlers:
        handler.setFormatter(formatter)
    for name in (LOGGER_NAME, "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # Library chatter (psycopg's pool retries, httpx request lines) stays out of the log:
    # the service reports failures itself, with the runbook's markers.
    for name in ("psycopg", "httpx", "httpcore", "redis", "uvicorn.access"):
        quiet = logging.getLogger(name)
        quiet.handlers[:] = [logging.NullHandler()]
        quiet.propagate = False
    return logging.getLogger(LOGGER_NAME)


def write_refusal(log_file: str, reason: str) -> None:
    """Append the refusal as an ERROR line, best effort (the log may be unwritable)."""
    if not log_file:
        return
    try:
        parent = os.path.dirname(os.path.abspath(log_file))
        os.makedirs(parent, exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write(f"{timestamp()} ERROR refusing to start: {_SPACES.sub(' ', reason)}\n")
    except OSError:
        pass
