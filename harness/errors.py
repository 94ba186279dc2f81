"""The harness's exception hierarchy, so callers catch at the level they care about.

HarnessError
├── BadInput            exit status 2, nothing started (runbook, compose file, option)
│   ├── RunbookError    names the file and line
│   └── ComposeError    names the file and, where known, the key
├── StackError          the stack could not be brought up or torn down
├── BlastRadiusError    a fault or command aimed at something the stack does not own
├── BridgeError         a runbook command the bridge cannot carry out
└── OutputError         a report file could not be written (read-only or full disk)
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class BadInput(HarnessError):
    """Input the user gave is unusable; the CLI prints one line and exits 2."""

    exit_status = 2


class RunbookError(BadInput):
    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class ComposeError(BadInput):
    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")


class OptionError(BadInput):
    """A bad command-line or pytest option."""


class StackError(HarnessError):
    """A stack could not be started, reached or torn down."""


class BlastRadiusError(HarnessError):
    """Refused: the target is not owned by the stack under test."""


class BridgeError(HarnessError):
    """A runbook command could not be carried out by the command bridge."""


class OutputError(HarnessError):
    """A report file could not be written; the verdicts stand, the file is absent (never cut)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")
