"""Read YAML (and JSON, a subset of YAML) into plain data plus the line of every key and list item, so that
errors can say `FILE:LINE`. Duplicate keys are reported instead of silently keeping the last one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlProblem(ValueError):
    """A file that is not valid YAML, or holds a duplicate key; carries the line."""

    def __init__(self, line: int, path: Path, message: str) -> None:
        super().__init__(message)
        self.line, self.path = line, path


@dataclass
class LocatedData:
    """Parsed data and the 1-based line of each path in it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """Line of the longest prefix of `path` that the file contains (1 for the document itself)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def load_located(text: str) -> LocatedData:
    """Parse one YAML document, recording where each key and item is."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        located = LocatedData(None)
        if node is not None:
            located.data = _build(node, (), located.lines, loader)
        return located
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, (), f"not valid YAML: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise YamlProblem(1, (), f"not valid YAML: {err}") from None
    finally:
        loader.dispose()


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], loader: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys, putting the merged pairs first
        merged = len(node.value) - own
        result: dict[Any, Any] = {}
        written: set[Any] = set()  # keys written in this mapping itself (a merged one may be overridden)
        for index, (key_node, value_node) in enumerate(node.value):
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise YamlProblem(key_node.start_mark.line + 1, path, f"key {key!r} must be a plain word")
            if key in written:
                raise YamlProblem(
                    key_node.start_mark.line + 1, (*path, key),
                    f"duplicate key {key!r} (first on line {lines[(*path, key)]})",
                )
            if key in result:  # a key overriding a merged one: its lines are the new value's
                for known in [known for known in lines if known[: len(path) + 1] == (*path, key)]:
                    del lines[known]
            if index >= merged:
                written.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
