"""Bad input, through the real `gameday` console script: one line on stderr, exit status 2,
and nothing started (docs/design.md §7).

"Nothing started" is checked four ways, each in the subprocess's own TMPDIR so concurrent
test runs cannot interfere: no subprocess was spawned at all (a `sitecustomize` logs every
`subprocess.Popen`), no gameday phase was reached (GAMEDAY_PHASE_FILE stays absent), no
`gameday-*` stack dir or pid file appeared, and no process carrying the stack marker
(GAMEDAY_STACK_ID) with that TMPDIR is alive.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.compose import ComposeFile

from .support import REPO, SITE, checkout_env

MALFORMED = REPO / "tests" / "runbook" / "malformed"
FIXED = REPO / "runbooks" / "incident-response.fixed.md"
COMPOSE = REPO / "docker-compose.chaos.yml"
STACK_MARKER = "GAMEDAY_STACK_ID"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # "{tmp}" is replaced by the case's directory
    words: str  # the one stderr line must contain this


def _compose(edit) -> str:  # type: ignore[no-untyped-def]
    # The stack's model (the deployment under the chaos layer) as one standalone file.
    data = copy.deepcopy(ComposeFile(COMPOSE).raw)
    data.pop("x-deployment", None)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def _set(service: str, key: str, value: object):  # type: ignore[no-untyped-def]
    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["services"][service][key] = value

    return edit


COMPOSE_FILES: dict[str, str | bytes] = {
    "not_yaml.yml": "services: [\n  testgen: {\n",
    "a_list.yml": "- testgen\n- postgres\n",
    "no_services.yml": "name: testgen-chaos\nvolumes: {pgdata: {}}\n",
    "empty_services.yml": "services: {}\n",
    "not_utf8.yml": b"services:\n  testgen:\n    image: \xff\xfe\n",
    "unknown_key.yml": _compose(_set("testgen", "privileged", True)),
    "bad_restart.yml": _compose(_set("testgen", "restart", "sometimes")),
    "undefined_dependency.yml": _compose(_set("testgen", "depends_on", ["postgres", "mongo"])),
    "bad_port.yml": _compose(_set("testgen", "ports", ["eighty:8000"])),
    "bad_mem_limit.yml": _compose(_set("testgen", "mem_limit", "lots")),
    "bad_interpolation.yml": _compose(_set("testgen", "image", "${TESTGEN_IMAGE")),
    "cycle.yml": _compose(_set("postgres", "depends_on", ["testgen"])),
    # Valid YAML and a valid compose file, but no stack a gameday could start from it.
    "only_redis.yml": "services:\n  redis:\n    image: redis:7-alpine\n",
}

RUNBOOK_FILES: dict[str, str] = {
    # Parses, but has no section for Scenario 3: the llm-quota scenario cannot run on it.
    "no_llm_section.md": FIXED.read_text().replace(
        "### Scenario 3: LLM API Issues", "### Notes about LLM API Issues"
    ),
}


def _huge_runbook() -> str:
    """A 12 MB runbook of 200,000 steps (was: linted for 34.6 s, and `run` started the suite)."""
    text = FIXED.read_text()
    at = text.index("```bash\n") + len("```bash\n")
    step = "# {n}. Check the API\ncurl -sf http://localhost:8000/health\n"  # ~60 bytes
    return text[:at] + "".join(step.format(n=n) for n in range(200_000)) + text[at:]


def _many_steps_runbook() -> str:
    """Under the size limit (~0.2 MB), over the step limit: 3,000 steps."""
    text = FIXED.read_text()
    at = text.index("```bash\n") + len("```bash\n")
    return text[:at] + "curl -sf http://localhost:8000/health\n" * 3000 + text[at:]


# Made only for the cases that name them (the huge one is 12 MB).
LAZY_FILES = {"huge.md": _huge_runbook, "many_steps.md": _many_steps_runbook}


def _schema_9(tmp: Path) -> Path:
    path = tmp / "v9" / "results.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"schema_version": 9, "run": {}, "results": []}))
    return path


def _run_gated_runbook(runbook: str) -> tuple[str, ...]:
    return ("run", "--scenario", "service-down", "--runbook", runbook, "--out", "{tmp}/out")


def _run_gated(*argv: str) -> tuple[str, ...]:
    """`gameday run` bounded to one scenario and one runbook, in case validation misses."""
    return ("run", "--scenario", "service-down", "--runbook", str(FIXED), "--out", "{tmp}/out",
            *argv)  # fmt: skip


M = str(MALFORMED)
CASES = [
    # -- runbooks ------------------------------------------------------------------------
    Case("runbook-empty", ("run", "--runbook", f"{M}/empty.md", "--out", "{tmp}/out"), "empty"),
    Case("runbook-blank-only", ("lint", f"{M}/blank_only.md"), "empty runbook"),
    Case("runbook-binary", ("run", "--runbook", f"{M}/binary_nul.md"), "NUL byte"),
    Case("runbook-not-utf8", ("mutate", "--runbook", f"{M}/not_utf8.md"), "not UTF-8"),
    Case(
        "runbook-no-severity-section",
        ("run", "--runbook", f"{M}/no_severity_section.md"),
        "no 'Incident Severity Levels' section",
    ),
    Case("runbook-no-sev-blocks", ("lint", f"{M}/no_sev_blocks.md"), "no '### SEV-N: Name'"),
    Case(
        "runbook-sev-without-response-time",
        ("run", "--runbook", f"{M}/sev_missing_response_time.md"),
        "has no '**Response Time**'",
    ),
    Case(
        "runbook-unparseable-response-time",
        ("repeat", "1", "--runbook", f"{M}/sev_unparseable_response_time.md"),
        "As soon as possible",
    ),
    Case("runbook-duplicate-sev", ("run", "--runbook", f"{M}/duplicate_sev.md"), "duplicate"),
    Case("runbook-unknown-sev-0", ("lint", f"{M}/sev_zero.md"), "unknown severity level SEV-0"),
    Case(
        "runbook-unknown-sev-7",
        ("run", "--runbook", f"{M}/sev_seven_in_section.md"),
        "unknown severity level SEV-7",
    ),
    Case(
        "runbook-undeclared-sev",
        ("mutate", "--runbook", f"{M}/undeclared_sev.md"),
        "not declared",
    ),
    Case(
        "runbook-unterminated-fence",
        ("run", "--runbook", f"{M}/unterminated_fence.md"),
        "unterminated code fence",
    ),
    Case(
        "runbook-resolution-steps-outside-a-code-block",
        ("run", "--runbook", f"{M}/resolution_without_block.md"),
        "is not followed by",
    ),
    Case("runbook-unbalanced-quote", ("lint", f"{M}/unbalanced_quotes.md"), "unbalanced"),
    Case(
        "runbook-dangling-continuation",
        ("run", "--runbook", f"{M}/trailing_backslash.md"),
        "line continuation",
    ),
    Case("runbook-missing", ("lint", "{tmp}/nowhere.md"), "no such runbook"),
    Case("runbook-is-a-directory", ("run", "--runbook", "{tmp}"), "runbook"),
    Case(
        "runbook-huge-run",
        _run_gated_runbook("{tmp}/huge.md"),
        "larger than a runbook may be",
    ),
    Case("runbook-huge-lint", ("lint", "{tmp}/huge.md"), "MB: larger than a runbook may be"),
    Case("runbook-too-many-steps", ("lint", "{tmp}/many_steps.md"), "more than a runbook may"),
    Case(
        "runbook-too-many-steps-run",
        _run_gated_runbook("{tmp}/many_steps.md"),
        "3075 steps: more than a runbook may have",
    ),
    Case(
        "runbook-without-the-scenarios-section-run",
        (
            "run",
            "--runbook",
            "{tmp}/no_llm_section.md",
            "--scenario",
            "llm-quota",
            "--out",
            "{tmp}/out",
        ),
        "Scenario 3",
    ),  # fmt: skip
    Case(
        "runbook-without-the-scenarios-section-mutate",
        ("mutate", "--runbook", "{tmp}/no_llm_section.md", "--scenario", "llm-quota"),
        "Scenario 3",
    ),
    Case(
        "runbook-without-the-scenarios-section-repeat",
        ("repeat", "2", "--runbook", "{tmp}/no_llm_section.md", "--scenario", "llm-quota"),
        "Scenario 3",
    ),
    # -- compose files -------------------------------------------------------------------
    Case("compose-not-yaml", _run_gated("--compose", "{tmp}/not_yaml.yml"), "not valid YAML"),
    Case("compose-a-list", ("lint", str(FIXED), "--compose", "{tmp}/a_list.yml"), "services"),
    Case("compose-no-services", _run_gated("--compose", "{tmp}/no_services.yml"), "services"),
    Case("compose-empty-services", _run_gated("--compose", "{tmp}/empty_services.yml"), "empty"),
    Case("compose-not-utf8", _run_gated("--compose", "{tmp}/not_utf8.yml"), "cannot read"),
    Case(
        "compose-unknown-key",
        _run_gated("--compose", "{tmp}/unknown_key.yml"),
        "unsupported keys: ['privileged']",
    ),
    Case(
        "compose-bad-restart-policy",
        _run_gated("--compose", "{tmp}/bad_restart.yml"),
        "unknown restart policy 'sometimes'",
    ),
    Case(
        "compose-undefined-dependency",
        _run_gated("--compose", "{tmp}/undefined_dependency.yml"),
        "undefined service 'mongo'",
    ),
    Case("compose-bad-port", _run_gated("--compose", "{tmp}/bad_port.yml"), "eighty:8000"),
    Case("compose-missing", _run_gated("--compose", "{tmp}/none.yml"), "no such compose file"),
    Case("compose-bad-mem-limit", _run_gated("--compose", "{tmp}/bad_mem_limit.yml"), "lots"),
    Case(
        "compose-bad-interpolation",
        _run_gated("--compose", "{tmp}/bad_interpolation.yml"),
        "invalid interpolation",
    ),
    Case("compose-dependency-cycle", _run_gated("--compose", "{tmp}/cycle.yml"), "cycle"),
    Case(
        "compose-only-redis",
        ("run", "--compose", "{tmp}/only_redis.yml", "--out", "{tmp}/out"),
        "no service 'testgen', 'postgres', 'llm', 'toxiproxy'",
    ),
    Case(
        "compose-only-redis-one-scenario",
        _run_gated("--compose", "{tmp}/only_redis.yml"),
        "a gameday stack needs",
    ),
    Case(
        "compose-bad-mem-limit-mutate",
        ("mutate", "--compose", "{tmp}/bad_mem_limit.yml", "--scenario", "service-down"),
        "lots",
    ),
    Case(
        "compose-dependency-cycle-repeat",
        ("repeat", "1", "--compose", "{tmp}/cycle.yml", "--scenario", "service-down"),
        "cycle",
    ),
    # -- options -------------------------------------------------------------------------
    Case("no-subcommand", (), "required: command"),
    Case("unknown-subcommand", ("frobnicate",), "invalid choice"),
    Case("run-unknown-scenario", ("run", "--scenario", "meteor-strike"), "unknown scenario"),
    Case("run-unknown-backend", ("run", "--backend", "kubernetes"), "--backend must be one of"),
    Case("run-out-is-a-file", ("run", "--out", str(FIXED)), "must be a directory"),
    Case("run-unknown-argument", _run_gated("--frobnicate"), "unrecognized arguments"),
    Case(
        "run-unknown-pytest-argument",
        _run_gated("--", "--frobnicate"),
        "pytest argument after --: unrecognized arguments: --frobnicate",
    ),
    Case(
        "run-pytest-path-missing",
        _run_gated("--", "nowhere/test_x.py"),
        "unrecognized arguments: nowhere/test_x.py",
    ),
    Case("run-pytest-bad-value", _run_gated("--", "--maxfail", "many"), "maxfail"),
    Case("run-jobs-zero", _run_gated("-j", "0"), "at least 1"),
    Case("run-jobs-not-a-number", _run_gated("-n", "lots"), "invalid count 'lots'"),
    Case("diff-missing-results", ("diff", "{tmp}/a.json", "{tmp}/b.json"), "no such results"),
    Case("diff-other-schema-version", ("diff", "{v9}", "{v9}"), "schema_version 9"),
    Case("history-other-schema-version", ("history", "{tmp}/v9"), "schema_version 9"),
    Case("review-missing-results", ("review", "{tmp}/r.json", "--out", "{tmp}/rv"), "no such"),
    Case("repeat-zero", ("repeat", "0"), "at least 1"),
    Case("repeat-negative", ("repeat", "-3"), "at least 1"),
    Case("repeat-not-a-number", ("repeat", "ten"), "invalid int value"),
    Case("repeat-unknown-scenario", ("repeat", "2", "--scenario", "meteor-strike"), "unknown"),
    Case("mutate-unknown-scenario", ("mutate", "--scenario", "meteor-strike"), "unknown scenario"),
    Case("mutate-unknown-backend", ("mutate", "--backend", "kubernetes"), "--backend must be"),
    Case("mutate-max-mutants-zero", ("mutate", "--max-mutants", "0"), "at least 1"),
    Case("mutate-json-is-a-directory", ("mutate", "--json", "{tmp}"), "must be a file"),
]

# Bad input that `gameday run` lets through today (strict xfail: a fix turns it into a failure
# that says "remove me"). None since `run` checks every selected scenario's section in every
# runbook up front (harness.suite.listing.plan).
KNOWN_GAPS: dict[str, str] = {}


def _marked_processes(tmpdir: Path) -> list[int]:
    """Live processes with the stack marker that inherited this case's TMPDIR."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(STACK_MARKER.encode() + b"=") for v in environ) and (
            f"TMPDIR={tmpdir}".encode() in environ
        ):
            found.append(int(entry.name))
    return found


def _prepare(tmp: Path, argv: tuple[str, ...] = ()) -> dict[str, str]:
    for name, make in LAZY_FILES.items():
        if any(f"{{tmp}}/{name}" in a for a in argv):
            (tmp / name).write_text(make())
    for name, content in {**COMPOSE_FILES, **RUNBOOK_FILES}.items():
        if isinstance(content, bytes):
            (tmp / name).write_bytes(content)
        else:
            (tmp / name).write_text(content)
    return {"tmp": str(tmp), "v9": str(_schema_9(tmp))}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_GAPS[c.id], strict=True))
        if c.id in KNOWN_GAPS
        else c
        for c in CASES
    ],
    ids=[c.id for c in CASES],
)
def test_bad_input_is_one_line_exit_2_and_starts_nothing(case: Case, tmp_path: Path) -> None:
    values = _prepare(tmp_path, case.argv)
    argv = [a.format(**values) for a in case.argv]
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    spawn_log, phases = tmp_path / "spawned.log", tmp_path / "phases"
    env = checkout_env(
        SITE,
        TMPDIR=str(private_tmp),
        GAMEDAY_TRUST_SPAWN_LOG=str(spawn_log),
        GAMEDAY_PHASE_FILE=str(phases),
    )
    proc = subprocess.run(
        ["gameday", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    spawned = spawn_log.read_text() if spawn_log.exists() else ""
    leftovers = sorted(p.name for p in private_tmp.iterdir() if "gameday-" in p.name)
    marked = _marked_processes(private_tmp)
    for pid in marked:  # a failing case must not leave a stack behind for the next one
        os.kill(pid, 9)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.endswith("\n") and len(proc.stderr.splitlines()) == 1, proc.stderr[-2000:]
    assert case.words in proc.stderr, proc.stderr
    assert proc.stdout == "", proc.stdout[-2000:]
    assert not spawned, f"subprocesses started: {spawned[:500]}"
    assert not phases.exists(), f"a gameday ran: {phases.read_text()}"
    assert not leftovers and not marked, (leftovers, marked)
    assert not (tmp_path / "out").exists(), "the output directory was created"


def test_the_corpus_covers_runbooks_compose_files_and_options() -> None:
    kinds = {c.id.split("-", 1)[0] for c in CASES}
    assert {"runbook", "compose", "run", "repeat", "mutate"} <= kinds
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
