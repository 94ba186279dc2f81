"""Secrets never leave the harness: every output, log excerpt and report passes through here."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
MASK = "[REDACTED]"
_MIN_LEN = 6  # shorter values ("", "x", "true") would mask ordinary words


class Redactor:
    """Replaces the values of secret-looking variables wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= _MIN_LEN:
                self._secrets.add(value)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)))
            if self._secrets
            else None
        )

    def add_env(self, env: Mapping[str, str]) -> None:
        self.add(*(v for k, v in env.items() if SECRET_NAME.search(k)))

    @classmethod
    def from_environment(cls) -> Redactor:
        r = cls()
        r.add_env(os.environ)
        return r

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)
