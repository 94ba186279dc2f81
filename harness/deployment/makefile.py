"""A Makefile's targets, with their lines: what `make TARGET` can run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.deployment.source import SourceFile

# `target: deps` (not `VAR := value`, not a recipe line, not `.PHONY`-style specials)
_RULE = re.compile(r"^([A-Za-z0-9_./%-][A-Za-z0-9_./% -]*?)\s*::?(?!=)")


@dataclass
class Makefile:
    source: SourceFile
    targets: dict[str, int] = field(default_factory=dict)  # target -> line

    @property
    def default_target(self) -> str | None:
        return next(iter(self.targets), None)


def read_makefile(source: SourceFile) -> Makefile:
    makefile = Makefile(source)
    for number, line in enumerate(source.text.splitlines(), 1):
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        m = _RULE.match(line)
        if not m:
            continue
        for target in m.group(1).split():
            if not target.startswith(".") and "%" not in target:
                makefile.targets.setdefault(target, number)
    return makefile
