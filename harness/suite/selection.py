"""Which gamedays a `gameday run` takes: pytest's options that mean something to it (`-k`,
`-x`, `-v`, `-q`, `--junitxml`, `--collect-only`, before or after `--`), `-k` matched as pytest
matches it against the names `pytest -m gameday` gives the gamedays, and `--shard I/N`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import OptionError

PYTEST_STYLE = ("-k", "-x", "--exitfirst", "-v", "--verbose", "-q", "--quiet", "--junitxml",
                "--collect-only")  # fmt: skip


def take_pytest_style(args: argparse.Namespace) -> None:
    """`gameday run -- -k EXPR -x` as before: pytest's options that mean something to a
    gameday run are taken after `--` too; any other is one line and exit 2."""
    extra = list(args.pytest_args)
    while extra:
        arg = extra.pop(0)
        name, _, value = arg.partition("=")
        if name not in PYTEST_STYLE:
            raise OptionError(
                f"pytest argument after --: unrecognized arguments: {arg} (gameday run takes "
                "-k, -x, -v, -q, --junitxml and --collect-only, before or after --; for other "
                "pytest options run `pytest -m gameday scenarios/ ...`)"
            )
        if name in ("-k", "--junitxml"):
            if not value:
                if not extra:
                    raise OptionError(f"{name} needs a value")
                value = extra.pop(0)
            setattr(args, "keyword" if name == "-k" else "junitxml", value)
        elif name in ("-x", "--exitfirst"):
            args.exitfirst = True
        elif name == "--collect-only":
            args.collect_only = True
        elif name in ("-v", "--verbose"):
            args.verbose += 1
        else:
            args.quiet += 1
    if args.keyword:
        keyword_match(args.keyword, None)  # a malformed expression is bad input now


def keyword_match(expr: str, job: Any) -> bool:
    """pytest's -k on the names `pytest -m gameday` gives the gameday (its test id, the
    scenario id, the runbook's stem, `test_<scenario>`): substring, case-insensitive."""
    from _pytest.mark.expression import Expression

    try:
        compiled = Expression.compile(expr)
    except Exception as exc:  # noqa: BLE001 - pytest's ParseError moves between versions
        raise OptionError(f"-k {expr!r}: {' '.join(str(exc).split())}") from None
    if job is None:
        return True
    stem, sid = Path(job.runbook.path).stem, job.scenario.id
    names = [f"test_gameday[{sid}-{stem}]", sid, stem, f"test_{sid.replace('-', '_')}",
             "test_gameday", "gameday", "test_gamedays.py", "scenarios"]  # fmt: skip
    lowered = [n.lower() for n in names]

    def matches(word: str, /, **kwargs: str | int | bool | None) -> bool:
        return any(word.lower() in n for n in lowered)

    return bool(compiled.evaluate(matches))


def shard_option(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid shard {text!r} (i/N, e.g. 1/3)") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"shard {text}: i must be between 1 and N")
    return i, n
