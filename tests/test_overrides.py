"""The one syntax of `--set`, `--vary` and `--grid` (simulator/scenario/overrides.py): shared rules, list items
by name or index, commas inside quotes and brackets, values read as YAML, located errors with exit code 2
through the CLI, and any value surviving the parser."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from simulator.scenario.overrides import (
    OverrideError,
    apply_overrides,
    parse_axes,
    parse_sets,
    read_value,
    split_values,
    variants,
)

QUICKSTART = "scenarios/quickstart.yaml"


def _flow(values: list[Any]) -> str:
    """Values as YAML flow text separated by commas: a flow sequence without its brackets."""
    text = yaml.safe_dump(values, default_flow_style=True, width=2**30).strip()
    assert text.startswith("[") and text.endswith("]"), text
    return text[1:-1]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("5 min,30 min", ["5 min", "30 min"]),
        ("100 Gbps, 400 Gbps", ["100 Gbps", "400 Gbps"]),
        ("{tp: 2, dp: 16},{tp: 4, dp: 8}", ["{tp: 2, dp: 16}", "{tp: 4, dp: 8}"]),
        ("1, [2, 3], {a: [4, 5], b: 6}", ["1", "[2, 3]", "{a: [4, 5], b: 6}"]),
        ("'a,b',\"c,d\"", ["'a,b'", '"c,d"']),
        ("'it''s, here',x", ["'it''s, here'", "x"]),  # '' is a quote inside a single-quoted string
        (r'"say \"hi, there\"",x', [r'"say \"hi, there\""', "x"]),  # \" inside a double-quoted one
        ("it's,bob's", ["it's", "bob's"]),  # an apostrophe inside a word opens no string
        ("['],[', x], y", ["['],[', x]", "y"]),  # brackets inside a quoted string do not count
        ("{\"a\":\"]\"},z", ["{\"a\":\"]\"}", "z"]),  # JSON: a quote after a colon opens a string
        ("single", ["single"]),
    ],
)
def test_values_split_at_commas_outside_quotes_and_brackets(text: str, values: list[str]) -> None:
    assert split_values(text) == values


@pytest.mark.parametrize(
    ("text", "words"),
    [("[1, 2", "']' is missing"), ("{a: [1}", "unmatched '}'"), ("1], 2", "unmatched ']' at character 2"),
     ("'open, x", "not closed")],
)
def test_unbalanced_brackets_and_quotes_are_errors(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        split_values(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("400 Gbps", "400 Gbps"), ("2", 2), ("2.5", 2.5), ("true", True), ("null", None), ("''", ""),
     ("[4, 4, 2]", [4, 4, 2]), ("{tp: 2, dp: 16}", {"tp": 2, "dp": 16}), ("'5,000'", "5,000"),
     ("{policy: fixed, interval: 15 min}", {"policy": "fixed", "interval": "15 min"})],
)
def test_values_are_read_as_yaml_the_same_by_all_three_options(text: str, value: Any) -> None:
    assert read_value(text) == value
    (by_set,) = parse_sets([f"a.b={text}"])
    by_vary = parse_axes("--vary", [f"a.b={text}"])[0].values
    by_grid = parse_axes("--grid", [f" a.b = {text} "])[0].values
    assert [o.value for o in (by_set, *by_vary, *by_grid)] == [value] * 3
    assert {(o.field, o.text) for o in (by_set, *by_vary, *by_grid)} == {("a.b", text)}
    assert (by_set.source, by_vary[0].source, by_grid[0].source) == ("--set:1", "--vary:1", "--grid:1")


def test_a_set_value_is_never_split() -> None:
    (override,) = parse_sets(["cluster.topology.dims=[4, 4, 2]"])
    assert override.value == [4, 4, 2]
    (override,) = parse_sets(["name=a,b"])
    assert override.value == "a,b"


@pytest.mark.parametrize("option", ["--vary", "--grid"])
@pytest.mark.parametrize(
    ("texts", "source", "field", "words"),
    [
        (["cluster.nodes"], "--X:1", "(document)", "expected FIELD.PATH=V1,V2,..."),
        (["=1,2"], "--X:1", "(document)", "expected FIELD.PATH=V1,V2,..."),
        (["a.b="], "--X:1", "a.b", "the value is empty"),
        (["a.b=1,,2"], "--X:1", "a.b", "value 2 of 3: the value is empty"),
        (["a=1", "b..c=2"], "--X:2", "b..c", "empty key"),
        (["a=1,2", "a=3"], "--X:2", "a", "is given in two --X options"),
        (["a=1,2,1"], "--X:1", "a", "value '1' is given twice"),
        (["a=1,{b: 2"], "--X:1", "a", "'}' is missing"),
        (["a=1,@x"], "--X:1", "a", "value 2 of 2: '@x' is not valid YAML"),
    ],
)
def test_vary_and_grid_refuse_the_same_bad_options(option: str, texts: list[str], source: str, field: str,
                                                     words: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_axes(option, texts)
    line = str(caught.value)
    assert line.startswith(f"{source.replace('--X', option)}: {field}: ")
    assert words.replace("--X", option) in line


def test_variants_are_every_combination_last_fastest() -> None:
    axes = parse_axes("--vary", ["a=1,2", "b=x,{c: 3}"])
    found = variants(axes)
    assert [v.label for v in found] == ["a=1 b=x", "a=1 b={c: 3}", "a=2 b=x", "a=2 b={c: 3}"]
    assert found[1].given == {"a": "1", "b": "{c: 3}"}
    assert [o.value for o in found[3].overrides] == [2, {"c": 3}]
    assert [v.label for v in variants([])] == [""]  # no --vary: the scenario as it is


def _data() -> dict[str, Any]:
    return {"cluster": {"nodes": 4}, "workloads": [{"name": "pretrain", "tp": 1}, {"name": "1", "tp": 2}, {"tp": 3}]}


def test_list_items_by_name_then_index() -> None:
    data = _data()
    sources = apply_overrides(data, parse_sets(["workloads.pretrain.tp=8", "workloads.1.tp=9", "workloads.2.tp=7",
                                                "workloads.0.dp=4"]))
    assert [w["tp"] for w in data["workloads"]] == [8, 9, 7]  # `1` is the item named "1", not index 1
    assert data["workloads"][0]["dp"] == 4
    assert sources == {("workloads", 0, "tp"): "--set:1", ("workloads", 1, "tp"): "--set:2",
                       ("workloads", 2, "tp"): "--set:3", ("workloads", 0, "dp"): "--set:4"}


def test_missing_mappings_are_made_and_a_later_override_wins() -> None:
    data = _data()
    sources = apply_overrides(data, [*parse_sets(["failures.repair.median=1 h", "cluster.nodes=8"]),
                                     *parse_axes("--grid", ["cluster.nodes=16"])[0].values])
    assert data["failures"] == {"repair": {"median": "1 h"}}
    assert data["cluster"]["nodes"] == 16
    assert list(sources.items())[-1] == (("cluster", "nodes"), "--grid:1")  # in the order last set


def test_a_shared_override_is_copied_into_each_scenario() -> None:
    overrides = parse_sets(["cluster.topology={kind: torus}", "cluster.topology.dims=[2]"])
    first, second = _data(), _data()
    apply_overrides(first, overrides)
    apply_overrides(second, overrides[:1])
    assert first["cluster"]["topology"] == {"kind": "torus", "dims": [2]}
    assert second["cluster"]["topology"] == {"kind": "torus"}
    assert overrides[0].value == {"kind": "torus"}


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [("workloads.nosuch.tp=1", "workloads.nosuch",
      "no item named or numbered 'nosuch'; items: pretrain (0), 1 (1), (2)"),
     ("workloads.3.tp=1", "workloads.3", "no item named or numbered '3'; items:"),
     ("cluster.nodes.count=1", "cluster.nodes", "is not a mapping or a list")],
)
def test_paths_that_cannot_be_followed_are_located(text: str, field: str, words: str) -> None:
    with pytest.raises(OverrideError) as caught:
        apply_overrides(_data(), parse_sets(["cluster.nodes=4", text]))
    assert str(caught.value).startswith(f"--set:2: {field}: {words}")


@pytest.mark.parametrize(
    ("args", "line", "words"),
    [
        (["run", QUICKSTART, "--set", "cluster.nodes=8", "--set", "cluster.nodes={"], "--set:2: cluster.nodes: ",
         ["not valid YAML"]),
        (["run", QUICKSTART, "--set", "cluster.nodes="], "--set:1: cluster.nodes: ", ["empty", "''"]),
        (["validate", QUICKSTART, "--set", "workloads.nosuch.tp=2"], "--set:1: workloads.nosuch: ", ["pretrain (0)"]),
        (["compare", QUICKSTART, "--vary", "cluster.nodes=4,8", "--vary", "cluster.nodes=16"],
         "--vary:2: cluster.nodes: ", ["two --vary options"]),
        (["compare", QUICKSTART, "--vary", "cluster.nodes=4,-1"], "--vary:1: cluster.nodes: ", ["greater than 0"]),
        (["compare", QUICKSTART, "--vary", "cluster.nodes=4", "--vary", "pricing.pue=1.1,'0.5,x'"],
         "--vary:2: pricing.pue: ", ["valid number", "'0.5,x'"]),
        (["sweep", QUICKSTART, "--grid", "cluster.nodes"], "--grid:1: (document): ", ["FIELD.PATH=V1,V2,..."]),
        (["sweep", QUICKSTART, "--grid", "cluster.nodes=4,4"], "--grid:1: cluster.nodes: ", ["twice"]),
        (["sweep", QUICKSTART, "--set", "workloads.pretrain.parallelism={tp: 1, dp: 32}", "--grid", "cluster.nodes=4",
          "--grid", "workloads.pretrain.parallelism.tp=1,3"],
         "--grid:2: workloads.pretrain.parallelism: ", ["96 GPUs"]),  # the grid value, not the --set, broke it
    ],
)
def test_bad_options_give_located_errors_and_exit_2(args: list[str], line: str, words: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    located = [x for x in result.stderr.splitlines() if x.startswith(line)]
    assert located, result.stderr
    assert all(word in located[0] for word in words), located[0]


def test_documented_examples_parse() -> None:
    """The --set, --vary and --grid examples of README.md and docs/ read as they say."""
    sets = parse_sets(["cluster.topology.nic_bandwidth=400 Gbps", "workloads.pretrain.parallelism={tp: 2, dp: 16}",
                       "scheduler.quotas={ads: 32}", "scheduler.quotas={}"])
    assert [o.value for o in sets] == ["400 Gbps", {"tp": 2, "dp": 16}, {"ads": 32}, {}]
    axes = parse_axes("--grid", ["workloads.llama3-405b.checkpoint.interval=2 min,5 min,15 min,30 min,1 h",
                                 "workloads.llama3-405b.recovery.restart=30 s,2 min,5 min,10 min"])
    assert [len(a.values) for a in axes] == [5, 4] and len(variants(axes)) == 20
    (vary,) = parse_axes("--vary", ["workloads.llama3-405b.recovery.on_no_spare=wait,shrink,requeue"])
    assert [o.value for o in vary.values] == ["wait", "shrink", "requeue"]


def _printable(min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=12)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _printable(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_printable(), inner, max_size=3),
    max_leaves=8,
)


@given(value=VALUES)
def test_any_value_round_trips_through_set(value: Any) -> None:
    text = _flow([value])
    (override,) = parse_sets([f"cluster.extra={text}"])
    assert override.value == value
    data: dict[str, Any] = {"cluster": {}}
    apply_overrides(data, [override])
    assert data["cluster"]["extra"] == value


@given(values=st.lists(VALUES, min_size=1, max_size=4, unique_by=lambda v: _flow([v])),
       option=st.sampled_from(["--vary", "--grid"]))
def test_any_values_round_trip_through_vary_and_grid(values: list[Any], option: str) -> None:
    (axis,) = parse_axes(option, [f"a.b={_flow(values)}"])
    assert [o.value for o in axis.values] == values
    assert [o.text for o in axis.values] == [_flow([v]) for v in values]
