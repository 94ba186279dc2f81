"""Files a runbook names, checked against the compose file: an absolute path needs an
`x-host-paths` mapping and, below it, a file some service is configured to write; a
relative one must exist beside the compose file or be created by an earlier step."""

from __future__ import annotations

import re

from harness.runbook.lint_stack import Findings, LintStack, Where

ABS_PATH = re.compile(r"(?<![\w:/.])(/(?:var|etc|opt|srv|home|usr|data|logs?)/[\w.*/-]+)")
_SYSTEM_PATHS = ("/dev/", "/proc/", "/sys/", "/tmp/", "/usr/bin/", "/bin/")


class FileChecks(Findings):
    def __init__(self, stack: LintStack) -> None:
        super().__init__(stack)
        self.created: set[str] = set()  # files earlier steps create (cp/mv/touch destinations)

    def file(self, path: str, where: Where) -> None:
        if path.startswith("/"):
            self.absolute_file(path, where)
        else:
            self.relative_file(path, where)

    def absolute_file(self, path: str, where: Where) -> None:
        if path.startswith(_SYSTEM_PATHS) or path in ("/", "/dev/null"):
            return
        line, command, section = where
        mapped = [
            p for p in self.stack.host_paths if path == p or path.startswith(p.rstrip("/") + "/")
        ]
        if not mapped:
            have = ", ".join(sorted(self.stack.host_paths)) or "none"
            self.miss(
                "file",
                path,
                f"no x-host-paths mapping covers it (mapped: {have})",
                line,
                command,
                section,
            )
            return
        root = mapped[0].rstrip("/")
        if path == root or "*" in path or path.endswith("/"):
            return
        if path not in self.stack.configured_files:
            known = ", ".join(
                sorted(f for f in self.stack.configured_files if f.startswith(root + "/"))
            )
            self.miss(
                "file",
                path,
                f"{root} is mapped, but no service is configured to write this "
                f"file (configured: {known or 'none'})",
                line,
                command,
                section,
            )

    def relative_file(self, path: str, where: Where) -> None:
        if path in self.created or path.startswith(("-", "$")) or "://" in path:
            return
        if not (self.stack.base / path).exists():
            line, command, section = where
            self.miss(
                "file",
                path,
                f"no such file beside the compose file ({self.stack.base}) and "
                "no earlier step creates it",
                line,
                command,
                section,
            )
