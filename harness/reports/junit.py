"""JUnit XML from results.json: one <testcase> per gameday, for CI systems' test reports.

Each test case is named as `pytest -m gameday` names it (`scenarios/test_gamedays.py::
test_gameday[<scenario>-<runbook stem>]`), so a CI dashboard keeps its history across the two
ways in. It fails when the verdict is not the one the suite expected (the run's `expected`,
else the runbook's baseline); the record's fields are separate <property>s (`verdict`,
`ttd_s`, `ttr_s`, `budget_s`, `reason`, `scenario`, `runbook`, `backend`,
`resolution_finding`, structured ones as JSON), as CI systems show them per test.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from harness.reports.json_results import Run, write_atomic
from harness.reports.registry import register_report
from harness.result import GamedayResult
from harness.suite.baseline import Expectation, expectation

# The record's fields that JUnit XML carries as properties.
JUNIT_FIELDS = (
    "verdict", "ttd_s", "ttr_s", "budget_s", "reason", "scenario", "runbook", "backend",
    "resolution_finding",
)  # fmt: skip
CLASSNAME = "scenarios.test_gamedays"


def junit_properties(record: dict[str, object]) -> Iterable[tuple[str, str]]:
    """(name, text) per field: strings as they are, the rest as JSON; a missing TTD or TTR
    is `null` (it was not measured), other missing fields are left out."""
    for key in JUNIT_FIELDS:
        value = record.get(key)
        if key not in record or (value is None and key not in ("ttd_s", "ttr_s")):
            continue
        yield key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def expected_for(run: Run, result: GamedayResult) -> Expectation:
    """What the run expected of this gameday: recorded in results.json by the executor, else
    the runbook's baseline (a results file from before the record kept it)."""
    key = f"{result.scenario}--{Path(result.runbook).stem}"
    recorded = run.info.expected.get(key) if isinstance(run.info.expected, dict) else None
    if isinstance(recorded, dict) and recorded.get("verdict"):
        return Expectation(
            str(recorded["verdict"]), recorded.get("resolution"), "", str(recorded.get("source")
                                                                           or "the run")
        )
    return expectation(result.runbook, result.scenario, "recovered")


def to_xml(run: Run) -> str:
    suite = ET.Element("testsuite", name="gameday")
    failures = 0
    total = 0.0
    for result in run.results:
        stem = Path(result.runbook).stem
        case = ET.SubElement(
            suite, "testcase", classname=CLASSNAME,
            name=f"test_gameday[{result.scenario}-{stem}]", time=f"{result.duration_s:.3f}",
        )  # fmt: skip
        total += result.duration_s
        props = ET.SubElement(case, "properties")
        for name, text in junit_properties(result.to_dict()):
            ET.SubElement(props, "property", name=name, value=text)
        mismatch = expected_for(run, result).mismatch(result)
        if mismatch is not None:
            failures += 1
            failure = ET.SubElement(case, "failure", message=mismatch)
            failure.text = f"{result.summary()}\n\n{result.step_table()}"
    suite.set("tests", str(len(run.results)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{total:.3f}")
    if run.info.started_at:
        suite.set("timestamp", run.info.started_at)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@register_report("junit", option="--junit", default=None, help="JUnit XML (CI test reports)")
def render_junit(run: Run, target: Path) -> list[Path]:
    return [write_atomic(target, to_xml(run))]
