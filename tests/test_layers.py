"""The package layout is the architecture: each folder of simulator/ is a layer, imports go only downward (or
within a layer), modules import each other without cycles, and no module outgrows 450 lines. docs/design.md's
layer table lists the same folders in the same order."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import ROOT

# Bottom to top; a module may import from its own layer or any layer below it.
LAYERS = ("foundations", "models", "catalog", "scenario", "plan", "engine", "report", "run", "experiments", "tools",
          "api", "cli")
MAX_LINES = 450


def _layer(module: str) -> str:
    """The layer of a dotted module name inside the project."""
    if module in ("cli", "cli_support"):
        return "cli"
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("units", "base", "__init__"):
        return "foundations"
    return parts[1]


def _modules() -> dict[str, Path]:
    found = {"cli": ROOT / "cli.py", "cli_support": ROOT / "cli_support.py"}
    for path in (ROOT / "simulator").rglob("*.py"):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[dotted.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules `path` imports anywhere in it (function-level and type-checking imports included, but for
    the package's own `__init__`, whose type-checking block names the API it imports lazily: `import simulator
    as cs`)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if path == ROOT / "simulator" / "__init__.py":
        tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in modules}


MODULES = _modules()
GRAPH = nx.DiGraph([(m, i) for m, path in MODULES.items() for i in _imports(path, MODULES) if i != m])


def test_every_folder_is_a_known_layer() -> None:
    assert {_layer(m) for m in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_downward(module: str) -> None:
    here = LAYERS.index(_layer(module))
    upward = [i for i in GRAPH.successors(module) if LAYERS.index(_layer(i)) > here] if module in GRAPH else []
    assert not upward, f"{module} ({_layer(module)}) imports from a higher layer: {upward}"


def test_no_import_cycles() -> None:
    # a package's __init__ is skipped by `from package import x`, so cycles through packages are real cycles too
    assert list(nx.simple_cycles(GRAPH)) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_the_line_limit(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_the_design_doc_lists_the_layers_in_this_order() -> None:
    """Its layer table names, top to bottom, the same layers (and the folders or files holding them)."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    rows = [line.split("|")[1].strip() for line in table.splitlines()][2:]
    assert rows == list(reversed(LAYERS))
    folders = {f.name for f in (ROOT / "simulator").iterdir() if f.is_dir() and not f.name.startswith("__")}
    documented = set(re.findall(r"`simulator/(\w+)/`", table))
    assert documented == folders


def test_test_code_is_at_least_seven_tenths_of_the_code() -> None:
    """Issue 12's floor on test code (lines of Python under tests/ against simulator/ and cli.py)."""
    def lines(paths: list[Path]) -> int:
        return sum(len(p.read_text(encoding="utf-8").splitlines()) for p in paths)

    code = lines(list(MODULES.values()))
    tests = lines(sorted((ROOT / "tests").rglob("*.py")))
    assert tests >= 0.7 * code, f"{tests} lines of tests for {code} lines of code"
