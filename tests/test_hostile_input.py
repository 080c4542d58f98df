"""Hostile scenario files (issue 15): every one is refused with a located error line, quickly and in little
memory, never a traceback (simulator/scenario/yaml_lines.py bounds, simulator/scenario/loader.py)."""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path

import pytest

from simulator.plan.load import load_scenario
from simulator.scenario.loader import MAX_FILE_BYTES, ScenarioError
from simulator.scenario.schema import MAX_GPUS
from simulator.scenario.yaml_lines import MAX_ALIASES, MAX_DEPTH, MAX_VALUES
from tests.conftest import ROOT

QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"

LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)) + "name: boom\n"
HOSTILE = {
    "control character": ("name: a\x00b\n", 1, "control character U+0000 at column 8"),
    "control character later": ("name: a\ncluster:\n  nodes: 4\x07\n", 3, "U+0007"),
    "deep flow nesting": ("x: " + "[" * 1000 + "]" * 1000 + "\n", 1, f"deeper than {MAX_DEPTH} levels"),
    "deep block nesting": ("".join(f"{'  ' * i}k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n", 65,
                           f"deeper than {MAX_DEPTH}"),
    "alias loop": ("x: &a [*a]\n", 1, "alias *a is inside the node it names"),
    "mapping alias loop": ("x: &a {y: *a}\n", 1, "alias *a is inside"),
    "billion laughs": (LAUGHS, 5, f"more than {MAX_VALUES:,} values"),
    "many keys": ("".join(f"k{i}: {i}\n" for i in range(60_000)), MAX_VALUES // 2, f"more than {MAX_VALUES:,}"),
    "many aliases": ("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n", 2,
                     f"more than {MAX_ALIASES:,} aliases"),
    "not yaml": ("name: [unclosed\n", 2, "not valid YAML"),
    "two documents": ("name: a\n---\nname: b\n", 2, "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_at_its_line(tmp_path: Path, case: str) -> None:
    text, line, words = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert time.perf_counter() - started < 1.0
    (issue,) = err.value.issues
    assert issue.location == f"{path}:{line}" and words in issue.message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: big\n" + "# padding\n" * (MAX_FILE_BYTES // 10), encoding="utf-8")
    with pytest.raises(ScenarioError, match="larger than 1 MiB"):
        load_scenario(path)


def test_a_megabyte_of_aliases_stays_small(tmp_path: Path) -> None:
    """The largest file allowed, all aliases of one big list: refused in well under a second and 100 MB."""
    body = "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n"
    path = tmp_path / "aliases.yaml"
    path.write_text(body, encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match="values"):
        load_scenario(path)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


def test_every_issue_prints_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.yaml"
    path.write_text('name: "a\\nb"\nworkloads:\n  - name: "x\\ny\\u2028z"\n    kind: nope\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    for issue in err.value.issues:
        assert "\n" not in str(issue) and "\u2028" not in str(issue)
    assert any("workloads.x\\ny\\u2028z.kind" in str(i) for i in err.value.issues)


@pytest.mark.parametrize(("overrides", "words"), [
    (["cluster.nodes=500000", "workloads.pretrain.parallelism.dp=4000000"], "less than or equal to 131072"),
    (["cluster.nodes=16385"], f"at most {MAX_GPUS:,}"),
    (["cluster.nodes=20000", "cluster.gpus_per_node=4"], "use tiers: 3"),  # arithmetic, before any graph
    (["workloads.pretrain.parallelism.dp=4000000"], "must be at most 32"),
    (["cluster.topology.scale_out_latency=1 h"], "less than or equal to 1"),
    (["workloads.pretrain.checkpoint.write=1e300 s"], "at most about 3,000 years"),
])
def test_sizes_and_magnitudes_are_checked_before_anything_is_built(overrides: list[str], words: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match=re.escape(words)):
        load_scenario(QUICKSTART, overrides)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


def test_a_serving_overhead_has_a_defensible_bound() -> None:
    with pytest.raises(ScenarioError, match="less than or equal to 10"):
        load_scenario(ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml", ["workloads.chat.iteration_overhead=1 h"])
