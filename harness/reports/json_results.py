"""`results.json`: one file per gameday run, the `GamedayResult` records plus what the run was.

    {"schema_version": 2,
     "run": {"started_at": ISO 8601, "backend": "local", "runbooks": [...],
             "host_cores": 2, "harness_version": "0.1.0", "interrupted": false},
     "results": [GamedayResult.to_dict(), ...]}

The field-by-field description is `docs/results-schema.md`. Every other report (HTML,
regression diff, post-incident review, history) reads this file or the records in it; none
keeps data of its own. A file of another `schema_version`, or one that is not JSON, raises
`BadInput` with one line naming the file.

Every file is written whole or not at all (`write_atomic`: a temp file in the same directory,
then a rename), so a full or read-only disk leaves the previous file, or none, never a cut one.
A run stopped by Ctrl-C or SIGTERM is still written, with `"interrupted": true`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.errors import BadInput, OutputError
from harness.redact import Redactor
from harness.result import SCHEMA_VERSION as RESULT_SCHEMA_VERSION
from harness.result import GamedayResult

SCHEMA_VERSION = 2  # follows the record's schema (harness.result)
RESULTS_FILE = "results.json"


def harness_version() -> str:
    try:
        return metadata.version("gameday-harness")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class RunInfo:
    """What one run was: when, where, against which runbooks, with which harness."""

    started_at: str = ""  # wall clock, ISO 8601, UTC
    backend: str = ""  # the backend every result ran on ("local", "docker"; "a, b" if mixed)
    runbooks: list[str] = field(default_factory=list)
    host_cores: int = 0
    harness_version: str = ""
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM: the results are the ones finished
    drift: dict[str, Any] | None = None  # the run's --deployment drift report (DriftReport.to_dict)
    # What the chaos layer supplied because the deployment lacks it ({name, reason, service,
    # serves, container}); a verdict that rests on one says so in its `unchecked`.
    stand_ins: list[dict[str, Any]] = field(default_factory=list)
    # Every gameday the run planned, by `<scenario>--<runbook stem>`: the verdict (and second
    # finding) the suite expected, and where that comes from. A planned key without a result
    # never finished. Written by the executor; {} in files from before it.
    expected: dict[str, dict[str, str | None]] = field(default_factory=dict)
    shard: str = ""  # "i/N" when the run was one shard of a sharded run

    @classmethod
    def now(
        cls,
        results: Iterable[GamedayResult] = (),
        runbooks: Iterable[str] = (),
        backend: str = "",
        started_at: str = "",
        interrupted: bool = False,
    ) -> RunInfo:
        results = list(results)
        backends = sorted({r.backend for r in results if r.backend})
        names = list(dict.fromkeys([*runbooks, *(r.runbook for r in results)]))
        return cls(
            started_at=started_at
            or min(
                (r.started_at for r in results if r.started_at),
                default=datetime.now(UTC).isoformat(timespec="seconds"),
            ),
            backend=", ".join(backends) or backend,
            runbooks=names,
            host_cores=os.cpu_count() or 0,
            harness_version=harness_version(),
            interrupted=interrupted,
        )


@dataclass
class Run:
    """One results.json, read back."""

    info: RunInfo
    results: list[GamedayResult]
    path: Path | None = None

    @property
    def label(self) -> str:
        return self.info.started_at or (str(self.path) if self.path else "?")

    def to_dict(self) -> dict[str, Any]:
        info = asdict(self.info)
        if info.get("drift") is None:
            del info["drift"]  # optional: present only for a run with a deployment
        if not info.get("stand_ins"):
            del info["stand_ins"]  # optional: present only when the stack had stand-ins
        return {
            "schema_version": SCHEMA_VERSION,
            "run": info,
            "results": [r.to_dict() for r in self.results],
        }


def write_run(
    path: str | Path,
    results: Iterable[GamedayResult],
    info: RunInfo | None = None,
    redactor: Redactor | None = None,
) -> Path:
    """Write the run to `path` if it names a .json file, else to `path`/results.json.
    OutputError (one line: the file and the reason) if the disk refuses it."""
    results = list(results)
    target = Path(path)
    if target.suffix != ".json" or target.is_dir():
        target = target / RESULTS_FILE
    run = Run(info or RunInfo.now(results), results)
    text = json.dumps(run.to_dict(), indent=2, ensure_ascii=False) + "\n"
    # The records are redacted where they are made; this catches a secret of the
    # environment that reached a record some other way, as the plugin's own JSON does.
    text = (redactor or Redactor.from_environment())(text)
    write_atomic(target, text)
    return target


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` whole or not at all: a temp file beside it, fsync, rename.
    On any OSError the temp file is removed and OutputError says which file and why."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # the rename must not publish a file whose data is not on disk
        os.replace(tmp, target)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise OutputError(str(target), exc.strerror or str(exc)) from None
    return target


def read_run(path: str | Path) -> Run:
    """Read results.json (or a directory holding one); BadInput with one line if unusable."""
    source = Path(path)
    if source.is_dir():
        source = source / RESULTS_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{source}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{source}: cannot read results file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{source}: not JSON (line {exc.lineno}: {exc.msg})") from None
    return run_from_dict(data, str(source))


def run_from_dict(data: object, where: str = "<results>") -> Run:
    if not isinstance(data, dict) or "schema_version" not in data:
        raise BadInput(f"{where}: not a gameday results file (no schema_version)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise BadInput(
            f"{where}: results schema_version {version!r}; this harness reads "
            f"version {SCHEMA_VERSION} (re-run the gameday or use a matching harness)"
        )
    run_data, results_data = data.get("run"), data.get("results")
    if not isinstance(run_data, dict) or not isinstance(results_data, list):
        raise BadInput(f"{where}: results file needs a 'run' object and a 'results' list")
    try:
        info = RunInfo(**run_data)
    except TypeError as exc:
        raise BadInput(f"{where}: bad 'run' object: {exc}") from None
    results = []
    for i, item in enumerate(results_data):
        if not isinstance(item, dict):
            raise BadInput(f"{where}: results[{i}] is not an object")
        if item.get("schema_version", RESULT_SCHEMA_VERSION) != RESULT_SCHEMA_VERSION:
            raise BadInput(
                f"{where}: results[{i}] has result schema_version "
                f"{item.get('schema_version')!r}, expected {RESULT_SCHEMA_VERSION}"
            )
        try:
            results.append(GamedayResult.from_dict(item))
        except (KeyError, TypeError, ValueError) as exc:
            scenario = item.get("scenario", "?")
            raise BadInput(
                f"{where}: results[{i}] ({scenario}) is not a GamedayResult: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    return Run(info, results, Path(where) if where != "<results>" else None)
