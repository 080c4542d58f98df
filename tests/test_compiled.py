"""The serving engine's modules compiled by mypyc (setup.py): current with their sources, and giving exactly what
the same modules give as plain Python."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def compiled_sources() -> list[str]:
    """setup.py's list of modules to compile (read, not imported: importing it would build)."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMPILED":
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py lists no COMPILED modules")


def module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def test_every_module_to_compile_exists_and_is_current_where_compiled() -> None:
    for source in compiled_sources():
        path = ROOT / source
        assert path.is_file(), source
        loaded = Path(importlib.import_module(module_name(source)).__file__ or "")
        if any(loaded.name.endswith(suffix) for suffix in EXTENSION_SUFFIXES):
            assert loaded.stat().st_mtime >= path.stat().st_mtime, (
                f"{loaded.name} is older than {source}: run `pip install -e .` again (or delete it)")


RUN = """
import importlib.machinery, importlib.util, json, sys
import numpy as np
sys.path.insert(0, {root!r})
PLAIN = set({plain!r})

class Plain:
    \"\"\"Finds the listed modules' .py files, not their compiled extensions.\"\"\"
    def find_spec(self, name, path=None, target=None):
        if name not in PLAIN:
            return None
        source = {root!r} + "/" + name.replace(".", "/") + ".py"
        return importlib.util.spec_from_file_location(name, source)

if PLAIN:
    sys.meta_path.insert(0, Plain())
from simulator.engine.serving.deployment import Outage, simulate_serving
from simulator.plan.limits import ReplicaLimits
from tests.test_serving_engine import FixedIterations

rng = np.random.default_rng(7)
count = 1500
arrival = np.cumsum(rng.exponential(0.02, count))
inputs, outputs = rng.integers(1, 900, count), rng.integers(1, 200, count)
limits = ReplicaLimits(32, 512, 300, 16, swap_s_per_token=1e-6)
out = simulate_serving(FixedIterations(), limits, 3, arrival, inputs, outputs, "least_outstanding",
                       np.random.default_rng(1), None, None, [Outage(3.0, 1, 2.0)])
modules = [sys.modules[name].__file__ for name in sorted({names!r})]
print(json.dumps({{"modules": modules, "first": out.first_token_s.tolist(), "finish": out.finish_s.tolist(),
                  "busy": out.busy_s.tolist(), "kv": out.kv_block_s.tolist(), "lost": out.lost_s.tolist(),
                  "preemptions": out.preemptions, "retried": out.retried}}))
"""


def run_engine(plain: bool) -> dict[str, object]:
    names = [module_name(s) for s in compiled_sources()]
    code = RUN.format(root=str(ROOT), plain=names if plain else [], names=names)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_compiled_and_plain_python_give_the_same_outcome_to_the_last_digit() -> None:
    compiled, plain = run_engine(False), run_engine(True)
    modules = compiled.pop("modules")
    assert all(str(m).endswith(".py") for m in plain.pop("modules"))  # type: ignore[attr-defined]
    if all(str(m).endswith(".py") for m in modules):  # type: ignore[attr-defined]
        pytest.skip("the serving engine is not compiled here (see setup.py): nothing to compare")
    assert compiled == plain
    assert compiled["preemptions"] and compiled["retried"]  # the comparison covered preemption and a failure
