"""Read YAML (and JSON, a subset of YAML) into plain data plus the line of every key and list item, so that
errors can say `FILE:LINE`. Duplicate keys are reported instead of silently keeping the last one.

Bounded for hostile files: before anything is built, one pass over the parser's events (iterative, so any
nesting is safe to read) refuses control characters, nesting deeper than MAX_DEPTH, more than MAX_ALIASES
aliases, an alias inside the node it names, and documents whose aliases would expand to more than MAX_VALUES
values (a "billion laughs"), each at its line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_DEPTH = 64  # nested mappings and lists; a scenario needs about 8
MAX_ALIASES = 1_000  # `*name` references
MAX_VALUES = 20_000  # keys, items and scalars once aliases are expanded; a scenario holds a few hundred
# libyaml's parser where PyYAML was built with it (its wheels are): ~50x faster on large files
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NOT_ALLOWED = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")

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
    """Parse one YAML document, recording where each key and item is (YamlProblem for a file that is not YAML
    or that breaks the bounds above)."""
    _check_characters(text)
    _check_shape(text)
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        located = LocatedData(None)
        if node is not None:
            located.data = _build(node, (), located.lines, loader)
        return located
    except yaml.YAMLError as err:
        raise _not_yaml(err) from None
    finally:
        loader.dispose()


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], loader: Any) -> Any:
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


def _check_characters(text: str) -> None:
    """Refuse the first character YAML does not allow (control characters), at its line and column."""
    bad = _NOT_ALLOWED.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise YamlProblem(line, (), f"control character U+{ord(bad.group()):04X} at column {column}: not allowed "
                                    "in YAML (only tab, line breaks and printable characters)")


def _check_shape(text: str) -> None:
    """One pass over the parser's events: depth, aliases and the expanded size, without building anything."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    open_: list[tuple[str | None, int]] = []  # collections being read: (anchor, values so far)
    aliases = 0
    total = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_) >= MAX_DEPTH:
                    raise YamlProblem(line, (), f"nested deeper than {MAX_DEPTH} levels (a scenario needs about 8)")
                open_.append((event.anchor, 1))
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, count = open_.pop()
                if anchor is not None:
                    sizes[anchor] = count
                added = count
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YamlProblem(line, (), f"more than {MAX_ALIASES:,} aliases")
                if event.anchor in (a for a, _ in open_):
                    raise YamlProblem(line, (), f"alias *{event.anchor} is inside the node it names (a loop)")
                added = sizes.get(str(event.anchor), 1)
            elif isinstance(event, yaml.ScalarEvent):
                added = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            else:
                continue
            if open_:
                anchor, count = open_[-1]
                open_[-1] = (anchor, count + added)
                total = max(total, sum(c for _, c in open_))
            else:
                total = added
            if total > MAX_VALUES:
                raise YamlProblem(line, (), f"more than {MAX_VALUES:,} values (keys, items and scalars, counting "
                                             "what aliases expand to; a scenario holds a few hundred)")
    except yaml.YAMLError as err:
        raise _not_yaml(err) from None


def _not_yaml(err: yaml.YAMLError) -> YamlProblem:
    """The parser's complaint, at its line."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        if "nesting depth" in str(err.problem):  # libyaml's own limit, met before an event reaches ours
            return YamlProblem(line, (), f"nested deeper than {MAX_DEPTH} levels (a scenario needs about 8)")
        return YamlProblem(line, (), f"not valid YAML: {err.problem or err.context}")
    return YamlProblem(1, (), f"not valid YAML: {err}")
