"""The layout's import rules (docs/architecture.md): each concern has one home, and no
module imports across the lines drawn here. Checked on the source with `ast`, so a rule
broken anywhere in `harness/` fails this test with the offending import named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"

# Who may import what, by package (prefixes of module names under `harness.`). A module may
# always import its own package and the foundation.
FOUNDATION = ("errors", "result", "redact", "tls", "compose", "compose_merge", "topology",
              "binaries", "standins")
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    # the reference service and the mock provider run as separate processes and images
    "services": ("services",),
    "faultproxy": ("faultproxy", "toxiproxy"),
    "toxiproxy": (),
    "shell": ("shell",),
    # the linter asks the bridge's registry which tools it serves (never manual)
    "runbook": ("runbook", "shell", "services.testgen.metrics", "bridge.registry"),
    # a stack reads its deployment's image tools (`docker exec` of a tool it lacks)
    "backends": ("backends", "deployment.image"),
    # the fake plays the services in-process, by their own rules (not a copy of them)
    "backends.fake": ("backends", "services", "faultproxy"),
    "bridge": ("bridge", "backends.base", "shell", "runbook.model"),
    "observe": ("observe", "backends.base", "services.contract"),
    "faults": ("faults", "backends.base", "observe", "toxiproxy", "services.contract"),
    "run": ("run", "backends.base", "bridge", "faults", "observe", "runbook", "shell"),
    # views of the record; the diff also reads the suite's expectations, the review the
    # runbook whose template it fills
    "reports": ("reports", "runbook", "suite.baseline", "deployment.report", "deployment.render",
                "deployment.steps"),
    "suite": ("suite", "run", "backends", "faults", "runbook", "reports", "faultproxy",
              "services.contract", "observe", "options", "deployment"),
    "trust": ("trust", "suite", "run", "backends", "bridge", "faults", "observe", "runbook",
              "shell", "toxiproxy", "options"),
    "cli": ("suite", "trust", "reports", "run", "runbook", "backends", "options", "deployment"),
    "options": ("backends", "run", "deployment"),
    # a team's deployment files, and the drift of a runbook against them
    "deployment": ("deployment", "runbook", "shell"),
}  # fmt: skip


def _module(path: Path) -> str:
    rel = path.relative_to(HARNESS).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "harness":
                out += [(node.lineno, a.name) for a in node.names]
            elif node.module.startswith("harness."):
                out.append((node.lineno, node.module.removeprefix("harness.")))
        elif isinstance(node, ast.Import):
            out += [
                (node.lineno, a.name.removeprefix("harness."))
                for a in node.names
                if a.name.startswith("harness.")
            ]
    return out


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = sorted(p for p in HARNESS.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module(p) or "harness" for p in MODULES])
def test_imports_stay_within_the_layout(path: Path) -> None:
    module = _module(path)
    if not module or module in FOUNDATION:
        allowed: tuple[str, ...] = FOUNDATION if module else tuple(MAY_IMPORT) + FOUNDATION
    else:
        rules = [k for k in MAY_IMPORT if module == k or module.startswith(k + ".")]
        assert rules, f"{module}: a new top-level concern; give it a rule here"
        allowed = MAY_IMPORT[max(rules, key=len)] + FOUNDATION
    if module == "run.verdict":  # the verdict is a pure function of the records
        allowed = ("result",)
    wrong = [
        f"line {n}: harness.{name}" for n, name in _imports(path) if not _within(name, allowed)
    ]
    assert not wrong, f"harness.{module} imports across the layout: {'; '.join(wrong)}"


def test_the_rules_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from harness.backends.local.stack import LocalStack\n")
    assert _imports(bad) == [(1, "backends.local.stack")]
    assert not _within("backends.local.stack", MAY_IMPORT["bridge"])


def test_the_public_api_resolves_and_stays_small() -> None:
    import harness

    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    assert len(harness.__all__) <= 20  # a small surface; the rest is internal


ROOT = HARNESS.parent
DOC = ROOT / "docs" / "architecture.md"
_PATH_LIKE = re.compile(r"^[\w./-]+(?:\.(?:py|toml|md|yml|c)|/)(?:::\w+)?$")


def _doc_paths(text: str) -> list[str]:
    """Every `code` span of the document that names a file, a folder or a test."""
    spans = re.findall(r"`([^`\n]+)`", text)
    return sorted({s for s in spans if _PATH_LIKE.match(s)})


def _exists(name: str) -> bool:
    path, _, test = name.partition("::")
    if "/" not in path.rstrip("/"):  # a bare file name: some module of the harness has it
        found = [p for p in HARNESS.rglob(path.rstrip("/")) if "__pycache__" not in p.parts]
        found += [ROOT / path] if (ROOT / path).exists() else []
    else:
        found = [base / path for base in (ROOT, HARNESS) if (base / path).exists()]
    if not found or not test:
        return bool(found)
    return any(f"def {test}(" in f.read_text() for f in found if f.is_file())


def test_every_path_the_architecture_doc_names_exists() -> None:
    named = _doc_paths(DOC.read_text())
    assert len(named) > 20, named  # the reader found the paths (the test can fail)
    missing = [name for name in named if not _exists(name)]
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_the_doc_path_check_can_fail() -> None:
    assert _doc_paths("see `bridge/tools/` and `nowhere/gone.py` and `tests/x.py::t`") == [
        "bridge/tools/",
        "nowhere/gone.py",
        "tests/x.py::t",
    ]
    assert _exists("bridge/tools/") and _exists("errors.py")
    assert not _exists("nowhere/gone.py")
    assert not _exists("tests/test_architecture.py::test_that_does_not_exist")


# Rooms of one concern: no module over 600 lines, no function over 60, except the linear
# renderers named here (HTML, Markdown and SVG written top to bottom, one section after the
# other: splitting them would only scatter the page). A new long function is split, or
# named here with the reason it is linear.
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
LINEAR_RENDERERS = {
    "reports.history:_svg_panel",
    "reports.html_gameday:facts_html",
    "reports.html_plugin:facts_table",
    "reports.regression:to_markdown",
    "reports.regression:to_html",
    "reports.timeline_svg:timeline_svg",
}


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def _function_lengths(path: Path, module: str = "") -> dict[str, int]:
    """`module:Qualified.name` → lines (decorators excluded), for every def in the file."""
    module = module or _module(path) or "harness"
    out: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    out[f"{module}:{name}"] = (child.end_lineno or child.lineno) - child.lineno + 1
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), str(path)), "")
    return out


def _long_functions(paths: list[Path], module: str = "") -> dict[str, int]:
    return {
        name: n
        for path in paths
        for name, n in _function_lengths(path, module).items()
        if n > MAX_FUNCTION_LINES
    }


def test_no_module_over_600_lines() -> None:
    over = {_module(p): n for p in MODULES if (n := _line_count(p)) > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split by concern): {over}"


def test_no_function_over_60_lines_except_linear_renderers() -> None:
    long = _long_functions(MODULES)
    over = {name: n for name, n in long.items() if name not in LINEAR_RENDERERS}
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines (split them): {over}"
    # the allow-list stays exact: a renderer that got short (or was renamed) leaves it
    stale = sorted(LINEAR_RENDERERS - set(long))
    assert not stale, f"LINEAR_RENDERERS names what is no longer over the limit: {stale}"


def test_the_size_rules_can_fail(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    long.write_text(f"class C:\n    def short(self):\n        pass\n\n    def f(self):\n{body}")
    assert _function_lengths(long, "m")["m:C.short"] == 2
    assert _long_functions([long], "m") == {"m:C.f": MAX_FUNCTION_LINES + 1}
    big = tmp_path / "big.py"
    big.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert _line_count(big) > MAX_MODULE_LINES
