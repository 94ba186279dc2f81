"""`gameday`: run the gamedays and read their results.

    gameday run [--scenario ID]... [--runbook PATH]... [--backend NAME] [--out DIR]
                [-j N] [-q] [-v] [-x] [--junitxml PATH] [-- PYTEST-ARGS]
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
N gamedays at once (`-j N`, pytest-xdist workers, each gameday on its own stack, longest
first; `-j 1` one after another), with the HTML report, then results.json and one review per
scenario in --out, each file written whole or not at all (results.json first). Its exit
status is pytest's (0: every verdict as expected); 130 after Ctrl-C, 143 after SIGTERM, with
what finished in results.json, marked interrupted. A file the disk refuses is named in one
line on stderr; the verdicts and the exit status stand. Bad input (a missing file, a
results file of another schema version, an unknown scenario, a runbook that does not parse,
an unknown pytest argument, an output directory that cannot be written) gets exactly one
line on stderr and exit status 2, before anything is started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

from harness.errors import BadInput, OptionError, OutputError
from harness.options import add_shared

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT = 2
STACK_MEMORY = 600 << 20  # a local stack at steady state (~230 MB RSS) + its pytest worker
# What `gameday run -- ARGS` is checked against (with pytest's own options).
CHECKED_PLUGINS = (
    "xdist.plugin",
    "xdist.looponfail",
    "pytest_metadata.plugin",
    "pytest_html.plugin",
    "harness.suite.plugin",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from harness.reports.json_results import harness_version

    parser = _Parser(prog="gameday", description="Chaos gamedays against the TestGen runbook.")
    parser.add_argument("--version", action="version", version=f"gameday {harness_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run gameday scenarios (pytest -m gameday) and write reports")
    add_shared(run.add_argument, "--scenario")
    run.add_argument(
        "--dry-run", action="store_true", help="print what would run (runbook x scenario, "
        "backend and why) and start nothing"
    )
    add_shared(run.add_argument, "--runbook", "--backend")
    run.add_argument(
        "-j",
        "--jobs",
        "-n",
        dest="jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="gamedays at once, each on its own stack, longest first (default: twice the "
        "cores, bounded by free memory; 1: one after another); -n is the same",
    )
    run.add_argument("-q", "--quiet", action="count", default=0, help="less output (no phases)")
    run.add_argument("-v", "--verbose", action="count", default=0, help="pytest's verbose output")
    run.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop after the first unexpected verdict"
    )
    run.add_argument("--junitxml", metavar="PATH", help="also write JUnit XML (CI test reports)")
    add_shared(run.add_argument, "--compose")
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
    add_shared(lint.add_argument, "--compose")
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
        from harness.suite import plugin

        signum = plugin.interrupted_by or signal.SIGINT  # SIGTERM and SIGHUP arrive as this too
        print(f"gameday: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{path}: no such {what}")
    return p


def _compose_path(option: str | None) -> Path:
    return _existing(option, "compose file") if option else REPO_ROOT / "docker-compose.chaos.yml"


# -- run -------------------------------------------------------------------------------


class _RunRecorder:
    """Plugin for the in-process pytest run (the xdist controller when -j > 1): HTML hooks
    on, one line per finished gameday naming its runbook, every GamedayResult kept for the
    reviews, and the files the disk refused (the plugin's list, shared)."""

    def __init__(self) -> None:
        from harness.result import GamedayResult

        self.results: list[GamedayResult] = []
        self.failures: list[tuple[str, str]] = []
        self.config: pytest.Config | None = None
        self.out: Path | None = None
        self.lock = threading.Lock()  # the progress thread and pytest's both write lines
        self.terminal: IO[str] = _terminal()

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        from harness.reports import html_plugin
        from harness.suite import plugin

        self.config = config
        html_plugin.register(config)  # a no-op once harness.suite.plugin registers it itself
        out = config.getoption("--gameday-out", None)
        self.out = Path(out) if out else None
        if plugin.WRITE_FAILURES_KEY in config.stash:
            self.failures = config.stash[plugin.WRITE_FAILURES_KEY]
            config.stash[plugin.FAILURES_SHOWN_KEY] = True  # said once, in cmd_run's line

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from harness.reports.html_plugin import gameday_results

        if report.when != "call":
            return
        for result in gameday_results(list(report.user_properties)):
            self.results.append(result)
            self.say(f"{Path(result.runbook).name}  {result.summary()}")

    def say(self, line: str) -> None:
        """A line on the real terminal, on a line of its own even amid pytest's dots."""
        tr = self.config.pluginmanager.get_plugin("terminalreporter") if self.config else None
        with self.lock:
            tw: Any = getattr(tr, "_tw", None)
            if tw is not None and tw.width_of_current_line:
                line = "\n" + line  # pytest's dots are mid-line: ours start a line of its own
                if hasattr(tw, "_current_line"):
                    tw._current_line = ""
            if tr is not None:
                tr.currentfspath = None  # pytest starts its next test's path on a new line
            sys.stdout.flush()
            self.terminal.write(line + "\n")
            self.terminal.flush()


def _terminal() -> IO[str]:
    """The terminal as it is now: pytest's capture (fd 1 redirected during each test in a
    serial run) must not swallow progress lines. Under a test's capsys, sys.stdout itself."""
    try:
        if sys.stdout.fileno() == 1:
            return os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    except (AttributeError, OSError, ValueError):
        pass
    return sys.stdout


def cmd_list(args: argparse.Namespace) -> int:
    from harness.suite.listing import cmd_list as list_scenarios

    return list_scenarios(args)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.backends import BACKENDS
    from harness.compose import ComposeFile
    from harness.runbook.parse import parse_runbook
    from harness.suite import plugin
    from harness.suite.plugin import require_services

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
    require_services(ComposeFile(compose), [p.scenario for p in planned])
    if args.dry_run:
        from harness.backends import select_backend

        backend, why = select_backend(args.backend, ComposeFile(compose))
        sys.stdout.write(listing.dry_run(planned, backend, why, compose))
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: --out must be a directory")
    _check_pytest_args(args.pytest_args)
    jobs = args.jobs or default_jobs(len(planned))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{out}: cannot create the output directory: {exc.strerror}") from None
    _check_writable(out)
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
        # A signal landing in a finalizer is re-delivered by the plugin; pytest's own hook
        # would turn it into a warning with a traceback instead.
        "-p",
        "no:unraisableexception",
        # The gameday test's one assert carries its own message; rewriting the asserts of
        # every imported plugin module costs each xdist worker ~1 s of CPU (no .pyc cache
        # under PYTHONDONTWRITEBYTECODE).
        "--assert=plain",
        # Plugins a gameday does not use, ~0.2 s of CPU each worker spends importing them
        # (hypothesis's, and anyio's, which imports trio).
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:anyio",
    ]
    for path in runbooks:
        pytest_args += ["--runbook", str(path)]
    if args.backend:
        pytest_args += ["--backend", args.backend]
    for sid in args.scenario:
        pytest_args += ["--scenario", sid]
    if jobs > 1:  # each xdist worker runs its gamedays on stacks of its own, longest first
        # (pytest-benchmark, where installed, warns on every worker that it is disabled)
        pytest_args += ["-n", str(jobs), "--dist", "load", "-p", "no:benchmark"]
    pytest_args += ["-q"] * args.quiet + ["-v"] * args.verbose
    if args.exitfirst:
        pytest_args.append("-x")
    if args.junitxml:
        pytest_args += ["--junitxml", args.junitxml]
    pytest_args += list(args.pytest_args)

    recorder = _RunRecorder()
    plugin.interrupted_by = None
    try:
        with _Progress(recorder, quiet=args.quiet > 0):
            code = int(pytest.main(pytest_args, plugins=[recorder]))
    finally:
        if recorder.terminal is not sys.stdout:
            recorder.terminal.close()  # our duplicate of fd 1
    if plugin.interrupted_by is not None or code == pytest.ExitCode.INTERRUPTED:
        return _interrupted(recorder, out)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        wanted = ", ".join(args.scenario) or "any scenario"
        print(
            f"gameday: no gameday test selected for {wanted} (see gameday list; a runbook's "
            f"own scenarios are in <runbook>.scenarios.toml)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if not recorder.results:
        return code  # nothing ran (--collect-only, a usage error): no results.json, no reviews

    reviews = _write_reviews(recorder)
    failed = {Path(p).name for p, _ in recorder.failures}
    print(f"gameday: {len(recorder.results)} result(s); pytest exit status {code}")
    for label, name in (("report", "report.html"), ("results", "results.json")):
        if name not in failed:
            print(f"  {label}:{' ' * (8 - len(label))}{out / name}")
    if reviews:
        print(f"  reviews: {out / 'reviews'} ({len(reviews)} file(s))")
    if recorder.failures:
        print(f"gameday: {plugin.write_failures_line(recorder.failures)}", file=sys.stderr)
    return code


def _interrupted(recorder: _RunRecorder, out: Path) -> int:
    """Ctrl-C or SIGTERM: results.json holds what finished, marked interrupted (the plugin
    wrote it); exit 128 + the signal (130, 143), never 2, the bad-input status."""
    from harness.suite import plugin

    signum = plugin.interrupted_by or signal.SIGINT
    written = not any(Path(p).name == "results.json" for p, _ in recorder.failures)
    name = signal.Signals(signum).name
    where = f"{out / 'results.json'} (marked interrupted)" if written else "nothing written"
    print(
        f"gameday: interrupted by {name} after {len(recorder.results)} gameday(s): {where}",
        file=sys.stderr,
    )
    return 128 + signum


def _write_reviews(recorder: _RunRecorder) -> list[Path]:
    """One review per result, each written whole (temp + rename) or not at all."""
    from harness.reports.json_results import write_atomic
    from harness.reports.review import load_template, render_review, review_filename

    out = recorder.out
    if out is None:
        return []
    written: list[Path] = []
    templates: dict[str, tuple[str, str]] = {}
    for result in recorder.results:
        if result.runbook not in templates:
            templates[result.runbook] = load_template(result.runbook)
        template, where = templates[result.runbook]
        path = out / "reviews" / review_filename(result, template)
        try:
            written.append(write_atomic(path, render_review(result, template, where)))
        except OutputError as exc:
            recorder.failures.append((str(out / "reviews" / "*.md"), exc.reason))
            break  # the disk refuses: the next review would fail alike
    return written


def _check_writable(out: Path) -> None:
    """Exit 2 before any stack starts when --out cannot take a file (a read-only mount, a
    full disk): a probe file is written, synced and removed. Root ignores permission bits,
    so asking os.access() would say yes on a read-only file system's directory too."""
    probe = out / f".gameday-write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"gameday\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise BadInput(f"{out}: output directory is not writable: {exc.strerror}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def _check_pytest_args(extra: Sequence[str]) -> None:
    """Arguments after `--` go to pytest: an unknown one is one line and exit 2 here, before
    anything starts, not pytest's usage text and exit 4 after the header."""
    if not extra:
        return
    from _pytest.config import UsageError, get_config

    # Checked against pytest and the plugins a gameday run relies on, not every plugin the
    # environment has: loading those (pytest-benchmark, anyio) runs git, hg and ldconfig.
    plugins = [arg for name in CHECKED_PLUGINS for arg in ("-p", name)]
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    config = None
    try:
        config = get_config([*plugins, *extra])
        config.parse([*plugins, *extra], addopts=False)
        paths = [str(p) for p in getattr(config.option, "file_or_dir", None) or []]
    except UsageError as exc:
        lines = str(exc).splitlines()
        why = next((ln.split("error: ", 1)[1] for ln in lines if "error: " in ln), lines[0])
        raise OptionError(f"pytest argument after --: {why}") from None
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
        if config is not None:
            config._ensure_unconfigure()
    for path in paths:
        if not Path(path.split("::", 1)[0]).exists():
            raise OptionError(f"pytest argument after --: no such file or directory: {path}")


def default_jobs(gamedays: int) -> int:
    """Gamedays at once: a gameday keeps ~0.4 of a core busy (its stack, the load, the
    detection steps' processes), so four per core, bounded by free memory (a stack and its
    worker need ~STACK_MEMORY) and the gamedays. Measured on 2 cores (docs/performance.md):
    -j 4 103 s, -j 8 78 s, -j 12 76 s; beyond ~8 the CPU is the bound."""
    import psutil

    cores = os.cpu_count() or 1
    by_memory = int(psutil.virtual_memory().available // STACK_MEMORY)
    return max(1, min(4 * cores, by_memory, gamedays))


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r} (a number, 1 or more)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


class _Progress:
    """Shows each gameday's phases while it runs: the plugin (here or in an xdist worker)
    appends `runbook  scenario: phase` lines to a file named by GAMEDAY_PROGRESS_FILE; a
    thread prints them on the terminal as they come (pytest's capture never sees them)."""

    def __init__(self, recorder: _RunRecorder, quiet: bool) -> None:
        self.recorder, self.quiet = recorder, quiet
        self.path: Path | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.previous_env: str | None = None

    def __enter__(self) -> _Progress:
        from harness.suite import plugin

        fd, name = tempfile.mkstemp(prefix="gameday-progress-", suffix=".log")
        os.close(fd)
        self.path = Path(name)
        self.previous_env = os.environ.get(plugin.PROGRESS_ENV)
        os.environ[plugin.PROGRESS_ENV] = name
        if not self.quiet:
            self.thread = threading.Thread(target=self._follow, name="gameday-progress")
            self.thread.daemon = True
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        from harness.suite import plugin

        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.previous_env is None:
            os.environ.pop(plugin.PROGRESS_ENV, None)
        else:
            os.environ[plugin.PROGRESS_ENV] = self.previous_env
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _follow(self) -> None:
        assert self.path is not None
        with open(self.path, encoding="utf-8", errors="replace") as f:
            pending = ""
            while True:
                stopping = self.stop.wait(0.2)
                pending += f.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    self.recorder.say(line)
                if stopping:
                    return


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
