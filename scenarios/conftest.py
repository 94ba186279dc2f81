"""The gameday suite is generated from the scenario catalog: no Python per scenario.

Every scenario of `harness/suite/scenarios.toml`, and of each runbook's own
`<runbook>.scenarios.toml`, becomes `test_gameday[<scenario id>-<runbook>]` for the runbooks
that have it. `--scenario ID` (repeatable) selects scenarios by exact id; `-k` still
matches the historical test names (`-k service_down` for `test_service_down`).
Catalog errors, unknown ids and sections a runbook lacks stop the run at collection, with
one line and exit status 2, before any stack starts.
"""

from __future__ import annotations

import pytest

from harness.errors import BadInput
from harness.suite import catalog
from harness.suite.plugin import settings

ERROR_KEY = pytest.StashKey[str]()


def _runbook_paths(config: pytest.Config) -> list[str]:
    return [r.path for r in settings(config).runbooks]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario_id" not in metafunc.fixturenames:
        return
    try:
        known = catalog.for_runbooks(_runbook_paths(metafunc.config))
        wanted = catalog.select(metafunc.config.getoption("--scenario"), known)
    except BadInput as exc:
        # Reported by pytest_collection_modifyitems: an exit from here would be shown as a
        # collection error with a traceback.
        metafunc.config.stash[ERROR_KEY] = str(exc)
        known, wanted = {}, []
    metafunc.parametrize("scenario_id", wanted, ids=wanted)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each scenario only for the runbooks that declare it; check their sections."""
    if ERROR_KEY in config.stash:
        pytest.exit(f"gameday: {config.stash[ERROR_KEY]}", returncode=2)
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "scenario_id" not in params or "runbook" not in params:
            keep.append(item)
            continue
        runbook, sid = params["runbook"], params["scenario_id"]
        try:
            scenario = catalog.for_runbook(runbook.path).get(sid)
            if scenario is not None:
                catalog.check_sections(runbook, [scenario])
        except BadInput as exc:
            pytest.exit(f"gameday: {exc}", returncode=2)
        if scenario is None:
            drop.append(item)
            continue
        # The names tests had when each scenario was a hand-written function.
        item.extra_keyword_matches.add(f"test_{sid.replace('-', '_')}")
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
