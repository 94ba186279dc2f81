"""`gameday`: run the gamedays and read their results.

    gameday run [--scenario ID]... [--runbook PATH]... [--backend NAME] [--out DIR] [-- PYTEST-ARGS]
    gameday diff OLD NEW [--html FILE]        regression report (Markdown on stdout)
    gameday history DIR                       trend of every results.json under DIR
    gameday run --dry-run [...]               what would run (runbook x scenario, backend)
    gameday list [--runbook PATH]... [--json] the scenarios: id, section, SEV, fault, lift
    gameday lint RUNBOOK [--compose PATH]     what a gameday cannot exercise, without a stack
    gameday lint --coverage RUNBOOK           compose service x fault kind: which section answers
    gameday review RESULTS.json --out DIR     post-incident reviews in the runbook's template
    gameday mutate [--runbook P] [--scenario ID]... [--max-mutants N] [--json OUT]
                                              runbook mutation testing
    gameday repeat N [--scenario ID]... [--runbook P]...   verdicts stable over N runs?

`run` is `pytest -m gameday` on the repository's scenarios directory, in this process,
with the HTML report, then results.json and one review per scenario in --out; its exit
status is pytest's (0: every verdict as expected). Bad input (a missing file, a results
file of another schema version, an unknown scenario, a runbook that does not parse) gets
exactly one line on stderr and exit status 2, before anything is started.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harness.errors import BadInput, OptionError

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gameday", description="Chaos gamedays against the TestGen runbook.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run gameday scenarios (pytest -m gameday) and write reports")
    run.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="ID",
        help="scenario id (see gameday list; repeatable; default: all)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="print what would run (runbook x scenario, "
        "backend and why) and start nothing"
    )
    run.add_argument(
        "--runbook",
        action="append",
        default=[],
        metavar="PATH",
        help="runbook under test (repeatable; default: every runbooks/*.md)",
    )
    run.add_argument("--backend", default=None, help="stack backend: auto, local (default), docker")
    run.add_argument(
        "--compose",
        default=None,
        metavar="PATH",
        help="compose file (default: docker-compose.chaos.yml of the repository)",
    )
    run.add_argument(
        "--out",
        default="gameday-out",
        metavar="DIR",
        help="where report.html, results.json and reviews/ go (default: ./gameday-out)",
    )
    run.add_argument(
        "pytest_args", nargs="*", metavar="-- PYTEST-ARGS", help="extra pytest arguments, after --"
    )

    diff = sub.add_parser("diff", help="regression report between two runs (Markdown on stdout)")
    diff.add_argument("old", help="results.json (or its run directory), or <runbook>.baseline.json")
    diff.add_argument("new", help="results.json (or its run directory)")
    diff.add_argument("--html", metavar="FILE", help="also write the report as HTML")

    history = sub.add_parser("history", help="trend of verdicts and TTR over every run under DIR")
    history.add_argument("dir")

    lint = sub.add_parser("lint", help="list what in a runbook a gameday cannot exercise")
    lint.add_argument("runbook")
    lint.add_argument(
        "--compose",
        default=None,
        metavar="PATH",
        help="compose file (default: docker-compose.chaos.yml of the repository)",
    )
    lint.add_argument("--json", action="store_true", help="print the findings as JSON")
    lint.add_argument(
        "--coverage", action="store_true",
        help="table: each compose service x each fault kind, and the section that answers it",
    )
    lint.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if the runbook names something the stack lacks",
    )

    review = sub.add_parser(
        "review", help="post-incident review per result, in the runbook's template"
    )
    review.add_argument("results")
    review.add_argument("--out", required=True, metavar="DIR")
    review.add_argument(
        "--runbook",
        default=None,
        metavar="PATH",
        help="take the template from this runbook (default: each result's own)",
    )
    _add_trust_subcommands(sub)
    from harness.suite.listing import register as register_list

    register_list(sub)
    return parser


def _add_trust_subcommands(sub: Any) -> None:
    """`mutate` and `repeat`: how far the gameday's verdicts can be trusted."""
    mutate = sub.add_parser(
        "mutate", help="runbook mutation testing: which steps does the gameday really check?"
    )
    mutate.add_argument(
        "--runbook",
        default=str(REPO_ROOT / "runbooks" / "incident-response.fixed.md"),
        metavar="PATH",
        help="runbook to mutate (default: runbooks/incident-response.fixed.md)",
    )
    mutate.add_argument(
        "--scenario", action="append", default=[], metavar="ID", help="repeatable; default: all"
    )
    mutate.add_argument("--backend", default="local", help="stack backend (default: local)")
    mutate.add_argument("--compose", default=None, metavar="PATH", help="compose file")
    mutate.add_argument(
        "--max-mutants", type=int, default=None, metavar="N", help="run the first N mutants only"
    )
    mutate.add_argument("--json", default=None, metavar="OUT", help="write the results as JSON")
    mutate.add_argument("--markdown", default=None, metavar="OUT", help="write a Markdown report")
    mutate.add_argument(
        "--mutant",
        action="append",
        default=[],
        metavar="ID",
        help="run only this mutant (repeatable)",
    )
    mutate.add_argument("--list", action="store_true", help="list the mutants, run nothing")

    repeat = sub.add_parser("repeat", help="run scenarios N times; exit 1 if a verdict differs")
    repeat.add_argument("n", type=int, metavar="N", help="how many times (at least 1)")
    repeat.add_argument(
        "--scenario", action="append", default=[], metavar="ID", help="repeatable; default: all"
    )
    repeat.add_argument(
        "--runbook",
        action="append",
        default=[],
        metavar="PATH",
        help="repeatable; default: every runbooks/*.md",
    )
    repeat.add_argument("--backend", default="local", help="stack backend (default: local)")
    repeat.add_argument("--compose", default=None, metavar="PATH", help="compose file")
    repeat.add_argument("--json", default=None, metavar="OUT", help="write the results as JSON")
    repeat.add_argument("--markdown", default=None, metavar="OUT", help="write a Markdown report")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "run": cmd_run,
        "diff": cmd_diff,
        "history": cmd_history,
        "lint": cmd_lint,
        "review": cmd_review,
        "mutate": cmd_mutate,
        "repeat": cmd_repeat,
        "list": cmd_list,
    }
    try:
        return handlers[args.command](args)
    except BadInput as exc:
        print(f"gameday: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gameday: interrupted", file=sys.stderr)
        return 130


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{path}: no such {what}")
    return p


def _compose_path(option: str | None) -> Path:
    return _existing(option, "compose file") if option else REPO_ROOT / "docker-compose.chaos.yml"


# -- run -------------------------------------------------------------------------------


class _RunRecorder:
    """Plugin for the in-process pytest run: HTML hooks on, one line per finished scenario,
    and every GamedayResult (from the reports' user_properties) kept for results.json."""

    def __init__(self) -> None:
        from harness.result import GamedayResult

        self.results: list[GamedayResult] = []
        self.config: pytest.Config | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        from harness.reports import html_plugin

        self.config = config
        html_plugin.register(config)  # a no-op once harness.plugin registers it itself

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from harness.reports.html_plugin import gameday_results

        if report.when != "call":
            return
        for result in gameday_results(list(report.user_properties)):
            self.results.append(result)
            tr = self.config.pluginmanager.get_plugin("terminalreporter") if self.config else None
            line = f"gameday: {result.summary()}"
            if tr is not None:
                tr.ensure_newline()
                tr.write_line(line)
            else:
                print(line, flush=True)


def cmd_list(args: argparse.Namespace) -> int:
    from harness.suite.listing import cmd_list as list_scenarios

    return list_scenarios(args)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.backends import BACKENDS
    from harness.compose import ComposeFile
    from harness.reports.json_results import RunInfo, write_run
    from harness.reports.review import write_reviews
    from harness.runbook import parse_runbook

    # Everything the run needs is checked before pytest (and any stack) starts.
    scenarios_dir = REPO_ROOT / "scenarios"
    if not scenarios_dir.is_dir():
        raise BadInput(
            f"{scenarios_dir}: no scenarios directory (gameday run needs the repository "
            "checkout, not an installed wheel)"
        )
    from harness.suite import listing

    runbooks = [_existing(p, "runbook").resolve() for p in args.runbook]
    for path in runbooks:
        parse_runbook(path)
    # Scenario files, ids and every selected scenario's section in every runbook.
    planned = listing.plan(runbooks or listing.runbook_paths([]), args.scenario)
    compose = _compose_path(args.compose)
    ComposeFile(compose)
    if args.backend is not None and args.backend not in BACKENDS:
        raise OptionError(f"--backend must be one of {', '.join(BACKENDS)}, not {args.backend!r}")
    if args.dry_run:
        from harness.backends import select_backend

        backend, why = select_backend(args.backend, ComposeFile(compose))
        sys.stdout.write(listing.dry_run(planned, backend, why, compose))
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: --out must be a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{out}: cannot create the output directory: {exc.strerror}") from None
    out = out.resolve()

    pytest_args = [
        str(scenarios_dir),
        "-m",
        "gameday",
        "--rootdir",
        str(REPO_ROOT),
        "--gameday-out",
        str(out),
        "--html",
        str(out / "report.html"),
        "--self-contained-html",
        "-o",
        "render_collapsed=",
        "--compose",
        str(compose.resolve()),
    ]
    for path in runbooks:
        pytest_args += ["--runbook", str(path)]
    if args.backend:
        pytest_args += ["--backend", args.backend]
    for sid in args.scenario:
        pytest_args += ["--scenario", sid]
    pytest_args += list(args.pytest_args)

    started = datetime.now(UTC).isoformat(timespec="seconds")
    recorder = _RunRecorder()
    code = int(pytest.main(pytest_args, plugins=[recorder]))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        wanted = ", ".join(args.scenario) or "any scenario"
        print(
            f"gameday: no gameday test selected for {wanted} (see gameday list; a runbook's "
            f"own scenarios are in <runbook>.scenarios.toml)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    stopped = (
        pytest.ExitCode.INTERRUPTED,
        pytest.ExitCode.USAGE_ERROR,
        pytest.ExitCode.INTERNAL_ERROR,
    )
    if code in stopped and not recorder.results:
        return code  # nothing ran: no results.json that would read as an empty night

    runbook_names = [str(p) for p in runbooks] or sorted(
        str(p) for p in (REPO_ROOT / "runbooks").glob("*.md")
    )
    info = RunInfo.now(
        recorder.results, runbooks=runbook_names, backend=args.backend or "", started_at=started
    )
    results_path = write_run(out / "results.json", recorder.results, info)
    reviews = write_reviews(recorder.results, out / "reviews")
    print(f"gameday: {len(recorder.results)} result(s); pytest exit status {code}")
    print(f"  report:  {out / 'report.html'}")
    print(f"  results: {results_path}")
    print(f"  reviews: {out / 'reviews'} ({len(reviews)} file(s))")
    return code


# -- diff, history, lint, review ---------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.reports.regression import compare, load_snapshot, to_html, to_markdown

    old, new = load_snapshot(args.old), load_snapshot(args.new)
    comparison = compare(old, new)
    sys.stdout.write(to_markdown(comparison))
    if args.html:
        Path(args.html).write_text(to_html(comparison), encoding="utf-8")
        print(f"\nHTML report: {args.html}", file=sys.stderr)
    return 1 if comparison.regressed else 0


def cmd_history(args: argparse.Namespace) -> int:
    from harness.reports.history import to_markdown, write_history

    history, md, svg = write_history(args.dir)
    sys.stdout.write(to_markdown(history))
    print(f"\nwrote {md} and {svg}")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from harness.reports.runbook_lint import lint_runbook, to_text

    _existing(args.runbook, "runbook")
    if args.coverage:
        from harness.reports.runbook_lint import coverage_table

        sys.stdout.write(coverage_table(args.runbook, _compose_path(args.compose)))
        return 0
    report = lint_runbook(args.runbook, _compose_path(args.compose))
    if args.json:
        data: dict[str, Any] = asdict(report)
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(to_text(report))
    return 1 if args.strict and (report.missing or report.unexported) else 0


def cmd_review(args: argparse.Namespace) -> int:
    from harness.reports.json_results import read_run
    from harness.reports.review import write_reviews
    from harness.runbook import parse_runbook

    run = read_run(args.results)
    if args.runbook:
        parse_runbook(_existing(args.runbook, "runbook"))  # an explicit template must parse
    for path in write_reviews(run.results, args.out, args.runbook):
        print(path)
    return 0


def cmd_mutate(args: argparse.Namespace) -> int:
    from harness import mutate

    return mutate.main(args)


def cmd_repeat(args: argparse.Namespace) -> int:
    from harness import repeat

    return repeat.main(args)


if __name__ == "__main__":
    sys.exit(main())
