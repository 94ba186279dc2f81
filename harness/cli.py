"""`gameday`: run the gamedays and read their results.

    gameday run [--scenario ID]... [--runbook PATH]... [--backend NAME] [--out DIR] [-j N]
                [-k EXPR] [-q] [-v] [-x] [--junitxml PATH] [--shard I/N] [--dry-run]
    gameday report RESULTS.json [--html F] [--junit F] [--reviews DIR] ...   re-render reports
    gameday merge DIR... [--out DIR] [--history DIR]   one run from the outputs of N shards
    gameday diff OLD NEW [--html FILE]        regression report (Markdown on stdout)
    gameday history DIR                       trend of every results.json under DIR
    gameday list [--runbook PATH]... [--json] the scenarios: id, section, SEV, fault, lift
    gameday lint RUNBOOK [--compose PATH]     what a gameday cannot exercise, without a stack
    gameday review RESULTS.json --out DIR     post-incident reviews in the runbook's template
    gameday mutate [...]                      runbook mutation testing
    gameday repeat N [...]                    verdicts stable over N runs?

`run`: cmd_run checks every input and output path (bad input: one line on stderr, exit 2,
nothing started), plans runbook x scenario longest first, and hands the jobs to the executor
(`harness/suite/execute.py`), which runs N gamedays at once, each in a forked child on its own
stack, and rewrites results.json as each one ends. Then every report is rendered from that
record through the report registry; a writer that fails loses only its own file and says so
in one line. Exit status: 0 when every verdict is the one expected, 1 otherwise, 130 after
Ctrl-C, 143 after SIGTERM (what finished stays in results.json, marked interrupted).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from harness.errors import BadInput
from harness.options import add_shared
from harness.suite.selection import (
    keyword_match,
    shard_option,
    take_pytest_style,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from harness.reports.json_results import harness_version

    parser = _Parser(prog="gameday", description="Chaos gamedays against the TestGen runbook.")
    parser.add_argument("--version", action="version", version=f"gameday {harness_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _add_run(sub)
    _add_report_and_merge(sub)
    diff = sub.add_parser("diff", help="regression report between two runs (Markdown on stdout)")
    diff.add_argument("old", help="results.json (or its run directory), or <runbook>.baseline.json")
    diff.add_argument("new", help="results.json (or its run directory)")
    diff.add_argument("--html", metavar="FILE", help="also write the report as HTML")
    diff.add_argument(
        "--pair",
        action="append",
        metavar="OLD=NEW",
        help="compare runbook OLD of the old run with runbook NEW of the new one (repeatable; "
        "default: the two runbooks when each side ran one)",
    )

    history = sub.add_parser("history", help="trend of verdicts and TTR over every run under DIR")
    history.add_argument("dir")

    lint = sub.add_parser("lint", help="list what in a runbook a gameday cannot exercise")
    lint.add_argument("runbook")
    add_shared(lint.add_argument, "--compose", "--deployment")
    lint.add_argument("--json", action="store_true", help="print the findings as JSON")
    lint.add_argument(
        "--markdown", action="store_true", help="with --deployment: the drift report as Markdown"
    )
    lint.add_argument(
        "--ask-engine", action="store_true",
        help="with --deployment: also ask a local Docker engine which tools the images hold",
    )
    lint.add_argument(
        "--coverage", action="store_true",
        help="table: each compose service x each fault kind, and the section that answers it",
    )
    lint.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if the runbook names something the stack lacks",
    )

    _add_review(sub)
    _add_trust_subcommands(sub)
    from harness.suite.listing import register as register_list

    register_list(sub)
    return parser


def _add_review(sub: Any) -> None:
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


def _add_run(sub: Any) -> None:
    from harness.suite.execute import PER_CORE, STACK_MEMORY

    run = sub.add_parser("run", help="run the gamedays (runbook x scenario) and write reports")
    add_shared(run.add_argument, "--scenario")
    run.add_argument(
        "--dry-run", action="store_true", help="print what would run (runbook x scenario, "
        "backend and why) and start nothing"
    )
    add_shared(run.add_argument, "--runbook", "--backend")
    run.add_argument(
        "-j", "--jobs", "-n", dest="jobs", type=_jobs, default=None, metavar="N",
        help=f"gamedays at once, each on its own stack, longest first (default: {PER_CORE} per "
        f"core, bounded by free memory at {STACK_MEMORY >> 20} MB a gameday and by the number "
        "of gamedays; 1: one after another); -n is the same",
    )  # fmt: skip
    run.add_argument("-k", dest="keyword", default=None, metavar="EXPR",
                     help="only gamedays whose names match, as pytest's -k (e.g. 'service_down "
                     "and not fixed')")  # fmt: skip
    run.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    run.add_argument("-v", "--verbose", action="count", default=0,
                     help="every phase of every gameday, and lines in full")  # fmt: skip
    run.add_argument(
        "-x", "--exitfirst", action="store_true",
        help="start no gameday after the first unexpected verdict",
    )  # fmt: skip
    run.add_argument("--junitxml", metavar="PATH", help="also write JUnit XML (CI test reports)")
    run.add_argument("--collect-only", action="store_true",
                     help="list the selected gamedays by their pytest names; run nothing")
    run.add_argument(
        "--shard", type=shard_option, default=None, metavar="I/N",
        help="run only shard I of N: a duration-balanced slice, the same on every runner "
        "(gameday merge puts the shards' outputs together)",
    )  # fmt: skip
    add_shared(run.add_argument, "--compose", "--deployment")
    run.add_argument(
        "--out", default="gameday-out", metavar="DIR",
        help="where results.json, report.html and reviews/ go (default: gameday-out)",
    )  # fmt: skip
    run.add_argument(
        "--history", metavar="DIR",
        help="append this run to DIR and compare it with the previous run there; exit 1 only "
        "on a regression (what changed: DIR/<run>/exercise.md, and $GITHUB_STEP_SUMMARY)",
    )  # fmt: skip
    run.add_argument("pytest_args", nargs="*", metavar="-- ARGS",
                     help="-k, -x, -v, -q, --junitxml, --collect-only after -- (as before)")


def _report_kinds() -> dict[str, Any]:
    from harness.reports.registry import report_kinds

    return dict(report_kinds())


def _add_report_and_merge(sub: Any) -> None:
    report = sub.add_parser("report", help="render every report from a results.json again")
    report.add_argument("results", help="results.json (or the directory holding it)")
    for name, kind in _report_kinds().items():
        report.add_argument(kind.option, dest=f"report_{name}", metavar="PATH",
                            help=f"{kind.help} (with no option: every default report beside "
                            "results.json)")  # fmt: skip
    merge = sub.add_parser(
        "merge", help="one results.json, report and reviews from the outputs of N shards"
    )
    merge.add_argument("dirs", nargs="+", metavar="DIR", help="each shard's --out directory")
    merge.add_argument("--out", default="gameday-out", metavar="DIR",
                       help="where the merged outputs go (default: gameday-out)")
    merge.add_argument("--junitxml", metavar="PATH", help="also write JUnit XML")
    merge.add_argument("--history", metavar="DIR",
                       help="append the merged run to a history directory, as gameday run "
                       "--history does (exit 1 only on a regression against the previous run)")


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
    add_shared(mutate.add_argument, "--scenario", "--backend", "--compose",
               backend={"default": "local", "help": "stack backend (default: local)"})
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
    add_shared(repeat.add_argument, "--scenario", "--runbook", "--backend",
               backend={"default": "local", "help": "stack backend (default: local)"})
    repeat.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="gamedays of a round at once, each in its own process and stack (default: 1)",
    )
    add_shared(repeat.add_argument, "--compose")
    repeat.add_argument("--json", default=None, metavar="OUT", help="write the results as JSON")
    repeat.add_argument("--markdown", default=None, metavar="OUT", help="write a Markdown report")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "run": cmd_run,
        "report": cmd_report,
        "merge": cmd_merge,
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
    except KeyboardInterrupt:  # before or after the executor, which handles its own signals
        print("gameday: interrupted by SIGINT", file=sys.stderr)
        return 128 + signal.SIGINT


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{path}: no such {what}")
    return p


def _compose_path(option: str | None) -> Path:
    return _existing(option, "compose file") if option else REPO_ROOT / "docker-compose.chaos.yml"


# -- run -------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from harness.suite.listing import cmd_list as list_scenarios

    return list_scenarios(args)


def cmd_run(args: argparse.Namespace) -> int:
    """Check everything, plan, execute, render: the verdicts come from `execute`."""
    from harness.reports.board import StatusBoard
    from harness.reports.json_results import Run, RunInfo
    from harness.suite import execute, outputs

    take_pytest_style(args)
    if args.deployment:  # the stack follows this deployment, in every worker process too
        from harness.compose import DEPLOYMENT_ENV
        from harness.options import check_deployment

        os.environ[DEPLOYMENT_ENV] = str(Path(str(check_deployment(args.deployment))).resolve())
    runbooks, compose, backend, why = _checked_inputs(args.runbook, args.compose, args.backend)
    out = Path(args.out)
    jobs = execute.plan(
        runbooks, args.scenario, previous=execute.previous_durations(out / "results.json")
    )
    from harness.suite.plugin import require_services

    require_services(compose, [j.scenario for j in jobs])
    if args.keyword:
        jobs = [j for j in jobs if keyword_match(args.keyword, j)]
    if args.shard:
        jobs = execute.shard(jobs, *args.shard)
    if args.dry_run or args.collect_only:
        return _dry_run(jobs, backend, why, compose.path, collect_only=args.collect_only)
    if not jobs:
        raise BadInput("no gameday selected (see gameday list, and -k, --scenario, --shard)")
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: --out must be a directory")
    outputs.writable(out, "the output directory (--out)")
    if args.history:
        outputs.writable(Path(args.history), "the history directory (--history)")
    chosen = outputs.targets(out, {"junit": args.junitxml})
    outputs.check(chosen)

    board = StatusBoard(sys.stdout, verbose=args.verbose > 0)
    shard = f"{args.shard[0]}/{args.shard[1]}" if args.shard else ""
    done = execute.execute(
        jobs, backend=backend, compose=compose, concurrency=args.jobs, events=board,
        results_path=out / "results.json", runbooks=[r.path for r in runbooks],
        exitfirst=args.exitfirst, shard_label=shard, drift=_drift(compose, runbooks),
    )  # fmt: skip
    info = done.info or RunInfo.now(done.results, [r.path for r in runbooks], backend)
    if done.write_failure:
        print(f"gameday: results: {done.write_failure} (the verdicts stand)", file=sys.stderr)
    _say_outputs(Run(info, done.results), chosen, out, quiet=args.quiet > 0)
    if done.interrupted_by is not None:
        name = signal.Signals(done.interrupted_by).name
        print(f"gameday: interrupted by {name} after {len(done.results)} gameday(s): "
              f"{out / 'results.json'} (marked interrupted)", file=sys.stderr)  # fmt: skip
    elif args.history:
        return _record_exercise(Run(info, done.results), Path(args.history))
    return done.exit_status


def _drift(compose: Any, runbooks: Sequence[Any]) -> dict[str, Any] | None:
    """The drift report of the run's runbooks against the deployment the stack follows (every
    report of the run carries it); None when the stack has no deployment under it."""
    if compose.deployment_dir is None:
        return None
    from harness.deployment.drift import drift_report

    return drift_report(compose.deployment_dir, [r.path for r in runbooks]).to_dict()


def _record_exercise(run: Any, history: Path) -> int:
    """A scheduled exercise: exit 1 only on a regression against the previous run."""
    from harness.reports.exercise import record_exercise

    outcome = record_exercise(run, history)
    against = outcome.previous or "nothing yet (the first run in this history)"
    print(f"gameday: history: {len(outcome.regressions)} regression(s) against {against}; "
          f"{outcome.summary_path}")  # fmt: skip
    return outcome.exit_status


def _checked_inputs(
    runbook_options: Sequence[str], compose_option: str | None, backend_option: str | None
) -> tuple[list[Any], Any, str, str]:
    """Runbooks, compose file and backend, each read once and checked (BadInput, exit 2)."""
    from harness.backends import select_backend
    from harness.options import check_compose
    from harness.runbook.parse import parse_runbook
    from harness.suite.listing import runbook_paths

    runbooks = [parse_runbook(p.resolve()) for p in runbook_paths(runbook_options)]
    compose = check_compose(compose_option)
    backend, why = select_backend(backend_option, compose)
    return runbooks, compose, backend, why


def _say_outputs(run: Any, chosen: dict[str, Path], out: Path, quiet: bool) -> None:
    """Render every report from the record; name each file, and each failure in one line."""
    from harness.suite import outputs

    outcomes = outputs.render(run, chosen)
    if not quiet:
        print(f"gameday: {len(run.results)} result(s) in {out}")
        for o in outcomes:
            if o.error is None and o.written:
                print(f"  {o.name}:{' ' * max(1, 8 - len(o.name))}{o.target}")
    for o in outcomes:
        if o.error is not None:
            print(f"gameday: {o.name}: {o.error} (the verdicts stand)", file=sys.stderr)


def _dry_run(jobs: list[Any], backend: str, why: str, compose: Path, collect_only: bool) -> int:
    from harness.suite import listing

    if collect_only:  # pytest's name for each gameday, as `pytest -m gameday` would show it
        for j in jobs:
            print(f"scenarios/test_gamedays.py::test_gameday[{j.scenario.id}-"
                  f"{Path(j.runbook.path).stem}]")  # fmt: skip
        print(f"{len(jobs)} gameday(s) selected")
        return 0
    planned = [listing.Planned(j.runbook, j.scenario, _expected_text(j), j.expected.source)
               for j in jobs]  # fmt: skip
    sys.stdout.write(listing.dry_run(planned, backend, why, compose))
    return 0


def _expected_text(job: Any) -> str:
    exp = job.expected
    return exp.verdict + (f" (resolution {exp.resolution})" if exp.resolution else "")


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r} (a number, 1 or more)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


# -- report, merge -----------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """Every report, re-rendered from a results.json (nothing is run)."""
    from harness.reports.json_results import read_run
    from harness.suite import outputs

    run = read_run(args.results)
    asked = {name: getattr(args, f"report_{name}", None) for name in _report_kinds()}
    beside = None if any(asked.values()) else Path(args.results).resolve()
    if beside is not None and not beside.is_dir():
        beside = beside.parent
    chosen = outputs.targets(beside, asked)
    outputs.check(chosen)
    failed = 0
    for o in outputs.render(run, chosen):
        if o.error is None:
            if o.written:
                print(f"{o.name}: {o.target}")
        else:
            failed += 1
            print(f"gameday: {o.name}: {o.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.suite.shards import merge_command

    return merge_command(args)


# -- diff, history, lint, review ---------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.reports.regression import (
        compare,
        load_snapshot,
        parse_pairs,
        to_html,
        to_markdown,
    )

    pairs = parse_pairs(args.pair)
    old, new = load_snapshot(args.old), load_snapshot(args.new)
    comparison = compare(old, new, pairs)
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
    from harness.runbook.lint import lint_runbook, to_text

    _existing(args.runbook, "runbook")
    if args.deployment:  # the drift report: the runbook against the team's deployment
        from harness.deployment.command import lint_deployment
        from harness.options import check_deployment

        check_deployment(args.deployment)
        return lint_deployment(
            args.runbook, args.deployment, args.json, args.markdown, args.ask_engine
        )
    # Without a deployment: the scenario files and the compose file, checked as `gameday run`
    # checks them (bad input: exit 2). Another team's runbook lacks TestGen's sections, so the
    # drift report above does not ask for them.
    from harness.options import check_compose
    from harness.runbook.parse import parse_runbook
    from harness.suite import execute
    from harness.suite.plugin import require_services

    jobs = execute.plan([parse_runbook(Path(args.runbook).resolve())])
    # The compose file, checked as `gameday run` checks it.
    require_services(check_compose(args.compose), [j.scenario for j in jobs])
    if args.coverage:
        from harness.suite.coverage import coverage_table

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
    from harness.runbook.parse import parse_runbook

    run = read_run(args.results)
    if args.runbook:
        parse_runbook(_existing(args.runbook, "runbook"))  # an explicit template must parse
    for path in write_reviews(run.results, args.out, args.runbook):
        print(path)
    return 0


def cmd_mutate(args: argparse.Namespace) -> int:
    from harness.trust import mutate

    return mutate.main(args)


def cmd_repeat(args: argparse.Namespace) -> int:
    from harness.trust import repeat

    return repeat.main(args)


if __name__ == "__main__":
    sys.exit(main())
