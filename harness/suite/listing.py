"""`gameday list` and `gameday run --dry-run`: the scenarios, and what a run would do.

Both read the catalog (`harness/suite/scenarios.toml` plus each runbook's
`<runbook>.scenarios.toml`) and the runbooks, check them as `gameday run` would, and
start nothing: no stack, no pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.run.scenario import Scenario, ScenarioError
from harness.runbook.model import Runbook
from harness.runbook.parse import parse_runbook
from harness.suite import catalog
from harness.suite.baseline import expectation

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def register(sub: Any) -> None:
    """The `list` subcommand, on the CLI's subparsers."""
    listing = sub.add_parser(
        "list", help="the scenarios (id, section, SEV, fault, lift), built-in and the runbooks'"
    )
    listing.add_argument(
        "--runbook",
        action="append",
        default=[],
        metavar="PATH",
        help="also list the scenarios of PATH's <runbook>.scenarios.toml (repeatable; "
        "default: every runbooks/*.md)",
    )
    listing.add_argument("--json", action="store_true", help="print the scenarios as JSON")


def runbook_paths(options: Sequence[str]) -> list[Path]:
    """The runbooks named on the command line (each must exist), or every runbooks/*.md."""
    paths = [Path(p) for p in options] or sorted((REPO_ROOT / "runbooks").glob("*.md"))
    for p in paths:
        if not p.is_file():
            raise BadInput(f"{p}: no such runbook")
    return paths


@dataclass(frozen=True)
class Planned:
    """One gameday a run would start."""

    runbook: Runbook
    scenario: Scenario
    expected: str
    why: str  # where the expectation comes from


def plan(runbooks: Sequence[Path], ids: Sequence[str]) -> list[Planned]:
    """Runbook × scenario for a run, checked as the run checks them (catalog files, ids,
    sections): BadInput, one line, for anything that would stop it."""
    parsed = [parse_runbook(p) for p in runbooks]
    known = catalog.for_runbooks([r.path for r in parsed])
    wanted = catalog.select(ids, known)
    planned = []
    for runbook in parsed:
        own = catalog.for_runbook(runbook.path)
        check_sections(runbook, [own[sid] for sid in wanted if sid in own])
        for sid in wanted:
            if sid not in own:
                continue
            scenario = own[sid]
            exp = expectation(runbook.path, sid, scenario.expected)
            expected = exp.verdict + (f" (resolution {exp.resolution})" if exp.resolution else "")
            planned.append(Planned(runbook, scenario, expected, exp.source))
    return planned


def check_sections(runbook: Runbook, scenarios: Sequence[Scenario]) -> None:
    """Every section the scenarios name (and their `steps_from`) exists in the runbook; else
    one line naming every missing one, each with the scenarios that need it (a renamed
    section is usually more than one)."""
    missing: dict[str, list[str]] = {}
    for scenario in scenarios:
        for title in (scenario.section, *scenario.steps_from):
            try:
                runbook.section(title)
            except KeyError:
                where = f" (declared at {scenario.origin})" if scenario.origin else ""
                missing.setdefault(title, []).append(scenario.id + where)
    if missing:
        names = ", ".join(repr(s.title) for s in runbook.sections if s.steps)
        raise ScenarioError(
            f"{runbook.path}: no single runbook section matches {len(missing)} name(s): "
            + "; ".join(f"{title!r} (scenario {', '.join(ids)})" for title, ids in missing.items())
            + f"; sections with steps: {names}"
        )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
             for row in (header, *rows)]
    return "\n".join(lines) + "\n"


def _sev(scenario: Scenario) -> str:
    return f"SEV-{scenario.severity}" if scenario.severity else "(section's)"


def scenario_rows(scenarios: Sequence[Scenario]) -> list[list[str]]:
    return [
        [s.id, s.section, _sev(s), s.fault_summary, s.lift, s.origin or "(python)"]
        for s in scenarios
    ]


def cmd_list(args: argparse.Namespace) -> int:
    paths = runbook_paths(args.runbook)
    for p in paths:
        parse_runbook(p)  # a runbook that does not parse is bad input here too
    scenarios = list(catalog.for_runbooks(paths).values())
    if args.json:
        data = [
            {
                "id": s.id,
                "title": s.title,
                "section": s.section,
                "severity": s.severity,
                "fault": [{"kind": f.kind, **f.params} for f in s.faults],
                "lift": s.lift,
                "detect_window_s": s.detect_window_s,
                "verify_window_s": s.verify_window_s,
                "steps_from": list(s.steps_from),
                "expected": s.expected,
                "declared_at": s.origin,
            }
            for s in scenarios
        ]
        print(json.dumps(data, indent=2))
        return 0
    sys.stdout.write(
        _table(["id", "section", "SEV", "fault", "lift", "declared at"], scenario_rows(scenarios))
    )
    return 0


def dry_run(planned: Sequence[Planned], backend: str, why: str, compose: Path) -> str:
    """What `gameday run` would do, in words; nothing is started."""
    out = [
        "gameday run --dry-run: nothing started",
        f"backend: {backend} ({why})",
        f"compose: {compose}",
    ]
    by_runbook: dict[str, list[Planned]] = {}
    for p in planned:
        by_runbook.setdefault(p.runbook.path, []).append(p)
    for path, items in by_runbook.items():
        out.append(f"\nrunbook {path}: {len(items)} gameday(s)")
        rows = [
            [
                p.scenario.id,
                p.scenario.section,
                _sev(p.scenario),
                p.scenario.fault_summary,
                p.scenario.lift,
                f"{p.scenario.detect_window_s:g}/{p.scenario.verify_window_s:g} s",
                f"{p.expected} ({p.why})",
            ]
            for p in items
        ]
        table = _table(
            ["scenario", "section", "SEV", "fault", "lift", "detect/verify", "expects"], rows
        )
        out.append(table.rstrip("\n"))
    out.append(f"\n{len(planned)} gameday(s) would run")
    return "\n".join(out) + "\n"
