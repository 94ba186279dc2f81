"""Which gameday scenarios a runbook section's steps belong to, read from the scenario
catalog's files (the built-in `harness/suite/scenarios.toml` and the runbook's own
`<runbook>.scenarios.toml`) with `tomllib`: a finding on a step names the scenarios it
changes. Only `id`, `section` and `steps_from` are read; the catalog itself
(`harness.suite.catalog`) validates the files, this keeps `gameday lint` free of the fault
injectors' imports."""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness.runbook.model import Runbook

BUILTIN = Path(__file__).resolve().parents[1] / "suite" / "scenarios.toml"
SIDECAR_SUFFIX = ".scenarios.toml"


def _entries(path: Path) -> list[dict[str, object]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # the catalog reports a bad file; here it only names no scenario
    entries = data.get("scenario", [])
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def scenarios_by_section(runbook: Runbook) -> dict[str, list[str]]:
    """Section title -> ids of the scenarios whose steps come from that section."""
    sidecar = Path(runbook.path).with_name(Path(runbook.path).stem + SIDECAR_SUFFIX)
    merged: dict[str, dict[str, object]] = {}
    for path in (BUILTIN, sidecar):
        if path.is_file():
            for entry in _entries(path):
                if isinstance(entry.get("id"), str):
                    merged[str(entry["id"])] = entry
    out: dict[str, list[str]] = {}
    for sid, entry in merged.items():
        wanted = [entry.get("section")]
        steps_from = entry.get("steps_from")
        wanted += list(steps_from) if isinstance(steps_from, list) else []
        for title in wanted:
            if not isinstance(title, str):
                continue
            try:
                section = runbook.section(title)
            except KeyError:
                continue
            out.setdefault(section.title, []).append(sid)
    return out
