"""YAML with line numbers (simulator/scenario/yaml_lines.py): the line of every key and list item, the
longest-prefix lookup errors use, duplicate and non-word keys refused with their line, merge keys, broken
YAML located, and agreement with PyYAML's own reading of any mapping it writes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_inputs import places
from simulator.scenario.yaml_lines import YamlProblem, load_located

TEXT = """\
name: demo
cluster:
  nodes: 4
  topology:
    kind: fat_tree
workloads:
  - name: a
    tokens: 1B
  - name: b
"""


def test_every_key_and_item_has_its_line() -> None:
    located = load_located(TEXT)
    assert located.data == {"name": "demo", "cluster": {"nodes": 4, "topology": {"kind": "fat_tree"}},
                            "workloads": [{"name": "a", "tokens": "1B"}, {"name": "b"}]}
    assert located.lines == {
        (): 1, ("name",): 1, ("cluster",): 2, ("cluster", "nodes"): 3, ("cluster", "topology"): 4,
        ("cluster", "topology", "kind"): 5, ("workloads",): 6, ("workloads", 0): 7, ("workloads", 0, "name"): 7,
        ("workloads", 0, "tokens"): 8, ("workloads", 1): 9, ("workloads", 1, "name"): 9,
    }


@pytest.mark.parametrize(("path", "line"), [
    (("cluster", "topology", "kind"), 5),
    (("cluster", "topology", "radix"), 4),  # absent: its parent's line
    (("workloads", 1, "tokens"), 9),
    (("workloads", 7, "name"), 6),
    (("nowhere", "at", "all"), 1),
    ((), 1),
])
def test_line_of_is_the_longest_prefix_present(path: tuple[str | int, ...], line: int) -> None:
    assert load_located(TEXT).line_of(path) == line


def test_an_empty_document_is_none_on_line_one() -> None:
    for text in ("", "# only a comment\n", "\n\n"):
        located = load_located(text)
        assert located.data is None and located.lines == {} and located.line_of(("name",)) == 1


def test_json_is_read_with_lines_too() -> None:
    located = load_located('{\n  "a": 1,\n  "b": [\n    2,\n    3\n  ]\n}\n')
    assert located.data == {"a": 1, "b": [2, 3]}
    assert (located.line_of(("a",)), located.line_of(("b",)), located.line_of(("b", 1))) == (2, 3, 5)


@pytest.mark.parametrize(("text", "line", "path", "message"), [
    ("a: 1\nb: 2\na: 3\n", 3, ("a",), "duplicate key 'a' (first on line 1)"),
    ("top:\n  x: 1\n  y: 2\n  x: 3\n", 4, ("top", "x"), "duplicate key 'x' (first on line 2)"),
    ("items:\n  - k: 1\n    k: 2\n", 3, ("items", 0, "k"), "duplicate key 'k' (first on line 2)"),
    ("a: 1\n1: x\n1: y\n", 3, (1,), "duplicate key 1 (first on line 2)"),
])
def test_duplicate_keys_are_refused_where_they_repeat(text: str, line: int, path: tuple[str | int, ...],
                                                      message: str) -> None:
    with pytest.raises(YamlProblem) as info:
        load_located(text)
    assert (info.value.line, info.value.path, str(info.value)) == (line, path, message)


@pytest.mark.parametrize(("text", "line"), [
    ("a: 1\ntrue: 2\n", 2),
    ("a:\n  ? [1, 2]\n  : x\n", 2),
    ("1.5: x\n", 1),
    ("~: x\n", 1),
])
def test_keys_must_be_plain_words_or_integers(text: str, line: int) -> None:
    with pytest.raises(YamlProblem, match="must be a plain word") as info:
        load_located(text)
    assert info.value.line == line


def test_integer_keys_are_kept_as_integers() -> None:
    located = load_located("3: three\n10: ten\n")
    assert located.data == {3: "three", 10: "ten"} and located.line_of((10,)) == 2


def test_merge_keys_resolve() -> None:
    located = load_located("base: &b\n  nodes: 4\n  gpus: 8\nthis:\n  <<: *b\n  name: x\n")
    assert located.data["this"] == {"nodes": 4, "gpus": 8, "name": "x"}
    assert located.line_of(("this", "name")) == 6


def test_a_local_key_overrides_a_merged_one() -> None:
    """The YAML merge-key spec lets a mapping's own key override a merged one (PyYAML keeps the local value);
    errors then point at the local line, and the mapping's own keys still may not repeat."""
    text = "base: &b\n  nodes: 4\n  gpus: 8\nthis:\n  <<: *b\n  nodes: 16\n"
    located = load_located(text)
    assert located.data["this"] == yaml.safe_load(text)["this"] == {"nodes": 16, "gpus": 8}
    assert located.line_of(("this", "nodes")) == 6
    with pytest.raises(YamlProblem, match="duplicate key 'nodes'"):
        load_located(text + "  nodes: 32\n")


@pytest.mark.parametrize(("text", "line"), [
    ("a: 1\nb: [1, 2\nc: 3\n", 3),  # an unclosed flow sequence is noticed on the next line
    ("a: 1\n  b: 2\n", 2),
    ("a: 'open\n", 2),
    ("a: 1\n---\nb: 2\n", 2),  # two documents
    ("a: *nothing\n", 1),
])
def test_broken_yaml_says_where(text: str, line: int) -> None:
    with pytest.raises(YamlProblem, match=r"^not valid YAML") as info:
        load_located(text)
    assert info.value.line == line and info.value.path == ()


def test_a_yaml_problem_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="duplicate key"):
        load_located("a: 1\na: 2\n")


KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
SCALARS = st.one_of(st.integers(-1000, 1000), st.booleans(), st.none(), st.text(alphabet="abc xyz.-", max_size=10),
                    st.floats(allow_nan=False, allow_infinity=False))
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=4),
                            st.dictionaries(KEYS, inner, min_size=1, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(data=st.dictionaries(KEYS, DOCUMENTS, min_size=1, max_size=5))
def test_agrees_with_pyyaml_and_lines_follow_document_order(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    located = load_located(text)
    assert located.data == yaml.safe_load(text)
    paths = [(), *places(located.data)]  # the document, then every key and item in document order
    assert set(located.lines) == set(paths)
    lines = [located.lines[p] for p in paths]
    assert lines == sorted(lines)  # block style writes keys and items top to bottom
    assert lines[0] >= 1 and lines[-1] <= text.count("\n")
    for path in paths[1:]:  # a key's first line holds its name; an item's holds its dash or first key
        row = text.splitlines()[located.lines[path] - 1]
        assert path[-1] in row if isinstance(path[-1], str) else "-" in row
