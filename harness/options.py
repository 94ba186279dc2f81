"""The options `gameday` and `pytest -m gameday` share, defined once.

argparse's `add_argument` and pytest's `addoption` take the same keywords, so each shared
option is one spec here, added to either with `add_shared(parser.add_argument, ...)` or
`add_shared(group.addoption, ...)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.backends import BACKENDS, choose_backend, make_stack
from harness.backends.base import Stack
from harness.compose import ComposeFile, parse_dotenv
from harness.errors import BadInput
from harness.run.scenario import Scenario

REPO_ROOT = Path(__file__).resolve().parents[1]

SHARED: dict[str, dict[str, Any]] = {
    "--runbook": {
        "action": "append",
        "default": [],
        "metavar": "PATH",
        "help": "runbook under test (repeatable; default: every runbooks/*.md)",
    },
    "--backend": {
        "default": None,
        "help": "stack backend: auto (the default: docker if an engine has the images, else "
        f"local), {', '.join(b for b in BACKENDS if b != 'auto')}; or GAMEDAY_BACKEND",
    },
    "--compose": {
        "default": None,
        "metavar": "PATH",
        "help": "compose file (default: docker-compose.chaos.yml of the repository)",
    },
    "--deployment": {
        "default": None,
        "metavar": "DIR",
        "help": "the team's deployment files (compose file(s), Dockerfile(s), .env.example, "
        "Makefile, units, manifests): the runbook is checked against it (drift report)",
    },
    "--scenario": {
        "action": "append",
        "default": [],
        "metavar": "ID",
        "help": "run only this scenario (exact id, see `gameday list`; repeatable; default: all)",
    },
}


def add_shared(add: Callable[..., Any], *names: str, **overrides: dict[str, Any]) -> None:
    """Add the named shared options with `add` (overrides by option name without dashes)."""
    for name in names:
        add(name, **{**SHARED[name], **overrides.get(name.lstrip("-"), {})})


# -- validation shared by `gameday run`, `mutate` and `repeat` (bad input before anything starts)

def scenarios_from(ids: Sequence[str], known: dict[str, Scenario]) -> list[Scenario]:
    """The selected scenarios (all when none is named), or BadInput naming the unknown one."""
    for sid in ids:
        if sid not in known:
            raise BadInput(f"unknown scenario {sid!r}; known: {', '.join(sorted(known))}")
    return [known[sid] for sid in dict.fromkeys(ids)] if ids else list(known.values())


def check_deployment(option: str | None) -> Path | None:
    """The deployment dir, checked to be one (a dir with a compose file), or None when not
    given; BadInput (exit 2, one line) otherwise. Its files are read by the drift report."""
    if not option:
        return None
    from harness.deployment.load import COMPOSE_NAMES

    path = Path(option)
    if not path.is_dir():
        raise BadInput(f"{option}: no such deployment directory")
    if not any((path / name).is_file() for name in COMPOSE_NAMES):
        raise BadInput(f"{option}: no compose file ({', '.join(COMPOSE_NAMES)})")
    return path


def check_compose(option: str | None) -> ComposeFile:
    """The compose file, validated as far as a stack would use it, before anything starts:
    its structure, interpolation against the operator's environment and `.env.example`,
    every `mem_limit`, and the `depends_on` order (cycles)."""
    from harness.compose import ComposeFile
    from harness.run.gameday import operator_environment

    path = (
        Path(option)
        if option
        else REPO_ROOT / "docker-compose.chaos.yml"
    )
    if option and not path.exists():
        raise BadInput(f"{path}: no such compose file")
    compose = ComposeFile(path)
    example = compose.path.parent / ".env.example"
    dotenv = parse_dotenv(example.read_text()) if example.exists() else {}
    compose.resolve(operator_environment(), dotenv)
    compose.startup_order(list(compose.service_names))
    return compose



def stack_factory(
    backend_option: str | None, compose_option: str | None
) -> tuple[str, ComposeFile, Callable[[dict[str, str]], Stack]]:
    """(backend, compose file, factory of stacks for each gameday), all validated."""
    backend = choose_backend(backend_option)
    compose = check_compose(compose_option)

    def factory(env: dict[str, str]) -> Stack:
        return make_stack(backend, compose, env)  # .env: the deployment's, then the layer's

    return backend, compose, factory


class _Report(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def report_writer(args: Any, to_markdown: Callable[[Any], str]) -> Callable[[Any], None]:
    """Checks `--json`/`--markdown` now; returns what writes them after every step."""
    for opt in ("json", "markdown"):
        target = getattr(args, opt, None)
        if target and Path(target).is_dir():
            raise BadInput(f"{target}: --{opt} must be a file, not a directory")

    def checkpoint(report: _Report) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        if args.markdown:
            Path(args.markdown).write_text(to_markdown(report))

    return checkpoint
