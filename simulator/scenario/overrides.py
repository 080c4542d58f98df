"""The one syntax of `--set FIELD.PATH=VALUE`, `--vary FIELD.PATH=V1,V2,...` and `--grid FIELD.PATH=V1,V2,...`:
reading the options, splitting value lists, setting fields (list items by `name` or index), and problems located
at the option that caused them (`--set:N: field: problem`), so that every command follows the same rules.

Rules:
- the field path is dot-separated keys; in a list, an item is addressed by its `name` or else by its index;
- a value is read as YAML (`400 Gbps` is a string, `{tp: 2, dp: 16}` a mapping); an empty value or text that
  is not YAML is an error (write `''` for an empty string);
- a value list is split at commas outside brackets `[ ]`, braces `{ }` and quoted strings (`'...'`, `"..."`),
  so `5 min,30 min` is two values and `{tp: 2, dp: 16},{tp: 4, dp: 8}` two mappings; a quote opens a string
  where a YAML value can begin (at the start of a value, after a space or after `[ { , :`);
- in a --vary or --grid, a field appears in one option only and each of its values once.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from simulator.scenario.yaml_lines import Path

SET_FORM = "FIELD.PATH=VALUE"
LIST_FORM = "FIELD.PATH=V1,V2,..."
_CLOSING = {"[": "]", "{": "}"}
_QUOTE_AFTER = "[{,:"  # besides whitespace: characters after which a quote opens a quoted string


class OverrideError(ValueError):
    """A malformed option, or a field it cannot set: `SOURCE: field: problem` (SOURCE such as `--grid:2`)."""

    def __init__(self, source: str, field_path: str, message: str) -> None:
        super().__init__(f"{source}: {field_path or '(document)'}: {message}")
        self.source, self.field, self.message = source, field_path, message


@dataclass(frozen=True)
class Override:
    """One FIELD.PATH=VALUE: the option it came from, the field, the value as given and as read."""

    source: str  # `--set:N`, `--vary:N` or `--grid:N`: the N-th such option
    field: str
    text: str
    value: Any = dataclasses.field(compare=False)

    def __str__(self) -> str:
        return f"{self.field}={self.text}"


@dataclass(frozen=True)
class Axis:
    """One --vary or --grid option: a field and an override per value, in the order given."""

    field: str
    values: tuple[Override, ...]


@dataclass(frozen=True)
class Variant:
    """One combination of --vary or --grid values: an override per axis."""

    overrides: tuple[Override, ...]

    @property
    def label(self) -> str:
        """`field=value field=value`, the values as given."""
        return " ".join(str(o) for o in self.overrides)

    @property
    def given(self) -> dict[str, str]:
        """Each axis's field and value as given."""
        return {o.field: o.text for o in self.overrides}


def parse_sets(texts: Sequence[str], option: str = "--set") -> list[Override]:
    """`--set FIELD.PATH=VALUE` options, numbered from 1 as `--set:N` (`option:N`); raises OverrideError."""
    overrides = []
    for number, text in enumerate(texts, start=1):
        source = f"{option}:{number}"
        field_path, raw = _assignment(source, text, SET_FORM)
        overrides.append(_override(source, field_path, raw.strip()))
    return overrides


def parse_axes(option: str, texts: Sequence[str]) -> list[Axis]:
    """`--vary` or `--grid` (`option`) options `FIELD.PATH=V1,V2,...` as axes; raises OverrideError."""
    axes: list[Axis] = []
    for number, text in enumerate(texts, start=1):
        source = f"{option}:{number}"
        field_path, raw = _assignment(source, text, LIST_FORM)
        if field_path in {axis.field for axis in axes}:
            raise OverrideError(source, field_path, f"is given in two {option} options; put all its values in one")
        try:
            pieces = split_values(raw)
        except ValueError as err:
            raise OverrideError(source, field_path, str(err)) from None
        for index, piece in enumerate(pieces):
            if piece in pieces[:index]:
                raise OverrideError(source, field_path, f"value {piece!r} is given twice")
        axes.append(Axis(field_path, tuple(_override(source, field_path, piece, f"value {index} of {len(pieces)}: ")
                                           for index, piece in enumerate(pieces, start=1))))
    return axes


def variants(axes: Sequence[Axis]) -> list[Variant]:
    """Every combination of the axes' values, the last axis varying fastest; one empty variant without axes."""
    return [Variant(combo) for combo in itertools.product(*(axis.values for axis in axes))]


def split_values(text: str) -> list[str]:
    """`V1,V2,...` split at commas outside brackets, braces and quoted strings, each value stripped; raises
    ValueError for unbalanced brackets or quotes."""
    values: list[str] = []
    open_brackets: list[str] = []
    quote = ""  # the quote character of the string we are in, if any
    start = index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if (quote == '"' and char == "\\") or (quote == "'" and text[index:index + 2] == "''"):
                index += 1  # an escaped character (or quote) inside the string
            elif char == quote:
                quote = ""
        elif char in "'\"" and (index == start or text[index - 1].isspace() or text[index - 1] in _QUOTE_AFTER):
            quote = char
        elif char in _CLOSING:
            open_brackets.append(_CLOSING[char])
        elif char in "]}":
            if not open_brackets or open_brackets.pop() != char:
                raise ValueError(f"unmatched {char!r} at character {index + 1}")
        elif char == "," and not open_brackets:
            values.append(text[start:index].strip())
            start = index + 1
        index += 1
    if quote:
        raise ValueError(f"a string opened with {quote} is not closed")
    if open_brackets:
        raise ValueError(f"{open_brackets[-1]!r} is missing")
    values.append(text[start:].strip())
    return values


def read_value(text: str) -> Any:
    """A value read as YAML; ValueError if it is empty or not YAML."""
    if not text:
        raise ValueError("the value is empty; write '' for an empty string or null for none")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise ValueError(f"{text!r} is not valid YAML ({problem}); quote it if it is a string") from None


def apply_overrides(data: dict[str, Any], overrides: Sequence[Override]) -> dict[Path, str]:
    """Set each override's value in `data`, in order (a later one wins); the source of every path set, in the
    order last set. Missing mappings on the way are created; raises OverrideError where a path cannot be
    followed."""
    sources: dict[Path, str] = {}
    for override in overrides:
        path = _assign(data, override)
        sources.pop(path, None)
        sources[path] = override.source
    return sources


def _assignment(source: str, text: str, form: str) -> tuple[str, str]:
    """(field path, value text) of `FIELD.PATH=...`, the path checked."""
    field_path, sep, raw = text.partition("=")
    field_path = field_path.strip()
    if not sep or not field_path:
        raise OverrideError(source, "", f"expected {form}, got {text!r}")
    if any(not part.strip() for part in field_path.split(".")):
        raise OverrideError(source, field_path, "has an empty key; keys are joined by single dots")
    return field_path, raw


def given(source: str, field_path: str, value: Any) -> Override:
    """An override whose value is already a Python object (the Python API's `{"cluster.nodes": 8}`), checked
    like an option's field path."""
    field_path, _ = _assignment(source, f"{field_path}=", SET_FORM)
    return Override(source, field_path, value_text(value), value)


def value_text(value: Any) -> str:
    """`value` written as one option value (flow YAML that reads back as `value` and that a value list keeps
    whole: a string with a comma is quoted); repr() where it is not a YAML type (a numpy number, say)."""
    try:
        dumped = yaml.safe_dump(value, default_flow_style=True, width=2**16, sort_keys=False)
        text = str(dumped).strip().removesuffix("\n...")
    except yaml.YAMLError:
        return repr(value)
    try:
        whole = split_values(text) == [text]
    except ValueError:
        whole = False
    return text if whole else json.dumps(value)


def _override(source: str, field_path: str, text: str, which: str = "") -> Override:
    """The override with its value read; `which` says which value of a list it is."""
    try:
        return Override(source, field_path, text, read_value(text))
    except ValueError as err:
        raise OverrideError(source, field_path, f"{which}{err}") from None


def _assign(data: dict[str, Any], override: Override) -> Path:
    """Set one override's value (a copy: variants share overrides) and return the path it set."""
    parts = override.field.split(".")
    node: Any = data
    path: list[str | int] = []
    for depth, part in enumerate(parts):
        key: str | int
        if isinstance(node, list):
            key = _list_index(node, part, override, ".".join(parts[: depth + 1]))
        elif isinstance(node, dict):
            key = part
        else:
            raise OverrideError(override.source, ".".join(parts[:depth]),
                                "is not a mapping or a list; cannot go deeper")
        path.append(key)
        if depth == len(parts) - 1:
            node[key] = copy.deepcopy(override.value)
        else:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    return tuple(path)


def _list_index(items: list[Any], part: str, override: Override, field_path: str) -> int:
    """The index of the item named `part`, else of the item numbered `part`."""
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return index
    if part.isascii() and part.isdigit() and int(part) < len(items):
        return int(part)
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    listing = ", ".join(f"{name} ({i})" if isinstance(name, str) else f"({i})" for i, name in enumerate(names))
    raise OverrideError(override.source, field_path, f"no item named or numbered {part!r}; items: {listing or 'none'}")
