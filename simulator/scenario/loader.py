"""Load a scenario file: parse with line numbers, apply `--set` (and --vary/--grid) overrides, validate with the
schema, run the cross-field checks, and turn every problem into `FILE:LINE: field.path: what is wrong and what is
allowed` (or `--set:N: ...` where an option set the value)."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.scenario.overrides import Override, OverrideError, apply_overrides, parse_sets
from simulator.scenario.schema import Scenario
from simulator.scenario.yaml_lines import LocatedData, Path, YamlProblem, load_located

MAX_ISSUES = 50  # problems reported per file (a file of 60,000 unknown keys gets 50 lines and a count)
MAX_FILE_BYTES = 2**20  # a scenario is a page of YAML (traces go in CSV files); refuse to parse anything larger


@dataclass(frozen=True)
class ScenarioIssue:
    """One located problem, ready to print."""

    location: str  # FILE:LINE, or the option that set the value (--set:N, --vary:N, --grid:N)
    field: str  # dotted path, list items by name
    message: str

    def __str__(self) -> str:
        """One line, whatever the file held: line breaks and control characters inside are escaped, and the
        field path and message cut to a readable length."""
        return _one_line(f"{self.location}: {_short(self.field, 200) or '(document)'}: {_short(self.message, 600)}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario that its schema alone cannot see, at a path into its data."""

    path: Path
    message: str


Checks = typing.Callable[[Scenario], list[Problem]]  # cross-field checks, run on a scenario the schema accepted


class ScenarioError(Exception):
    """A scenario that cannot run, with every problem found."""

    def __init__(self, issues: list[ScenarioIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


def read_scenario(path: str | FilePath, checks: Checks, overrides: typing.Sequence[str] = (),
                  variant: typing.Sequence[Override] = ()) -> Scenario:
    """Read, override (the `--set` options `overrides`, then a --vary/--grid `variant`), validate and check (with
    `checks`) a scenario file; raise ScenarioError with located problems. simulator.plan.load.load_scenario
    passes the checks that need a plan."""
    file = FilePath(path)
    name = str(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise _single(f"{name}:1", "", f"file is larger than {MAX_FILE_BYTES // 2**20} MiB (a scenario is a page "
                                           "of YAML; request and job traces go in CSV files)")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _single(f"{name}:1", "", f"cannot read the file: {err}") from None
    return read_text(text, name, checks, [*_parsed(parse_sets, overrides), *variant])


def read_text(text: str, name: str, checks: Checks, overrides: typing.Sequence[Override] = (),
              base_dir: str | None = None) -> Scenario:
    """Scenario YAML `text` as read from a file named `name` (problems located at its lines), with `overrides`
    applied, validated and checked; relative paths inside are taken from `base_dir` (default: `name`'s
    folder)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise _single(f"{name}:1", "", f"text is larger than {MAX_FILE_BYTES // 2**20} MiB (a scenario is a page "
                                       "of YAML; request and job traces go in CSV files)")
    try:
        located = load_located(text)
    except YamlProblem as err:
        raise _single(f"{name}:{err.line}", dotted(err.path, None), str(err)) from None
    return read_data(located, name, checks, overrides, base_dir)


def read_data(located: LocatedData, name: str, checks: Checks, overrides: typing.Sequence[Override] = (),
              base_dir: str | None = None) -> Scenario:
    """Parsed scenario data (its lines in `located`; none for data built in Python, whose problems are then
    located at `name` alone) with `overrides` applied, validated and checked."""
    if not isinstance(located.data, dict):
        raise _single(_location(name, located, ()), "",
                      "a scenario is a mapping with name, cluster, pricing and workloads")
    try:
        sources = apply_overrides(located.data, overrides)
    except OverrideError as err:
        raise _single(err.source, err.field, err.message) from None
    return validate_located(located, name, checks, sources, base_dir)


def _parsed(parse: typing.Callable[[typing.Sequence[str]], list[Override]],
            texts: typing.Sequence[str]) -> list[Override]:
    """`parse(texts)`, its OverrideError as a ScenarioError."""
    try:
        return parse(texts)
    except OverrideError as err:
        raise _single(err.source, err.field, err.message) from None


def _location(name: str, located: LocatedData, path: Path) -> str:
    """`name:LINE` of `path`; `name` alone for data that has no lines (built in Python)."""
    return f"{name}:{located.line_of(path)}" if located.lines else name


def validate_located(located: LocatedData, name: str, checks: Checks,
                     sources: dict[Path, str] | None = None, base_dir: str | None = None) -> Scenario:
    """Validate parsed data; problems point into `name` (or at the option, such as `--set:2`, that set the
    value: `sources`). Relative file paths inside (traces) are taken from `base_dir`, by default the folder of
    `name`."""
    sources = sources or {}

    def where(path: Path) -> str:
        """The last option that set `path`, a parent or a child of it; else the file line."""
        for set_path, source in reversed(sources.items()):
            if set_path[: len(path)] == path or path[: len(set_path)] == set_path:
                return source
        return _location(name, located, path)

    try:
        scenario = Scenario.model_validate(located.data, context={"base_dir": base_dir or str(FilePath(name).parent)})
    except ValidationError as err:
        issues = []
        errors = err.errors(include_url=False)
        for e in errors[:MAX_ISSUES]:
            path = _data_path(e["loc"], located.data)
            if e["type"] == "union_tag_invalid":  # point at the `kind:` line, not the item's first line
                path = (*path, str(e["ctx"]["discriminator"]).strip("'"))
            message = _explain(e, path, located.data)
            issues.append(ScenarioIssue(where(path), dotted(path, located.data), message))
        if len(errors) > MAX_ISSUES:
            issues.append(ScenarioIssue(_location(name, located, ()), "",
                                        f"... and {len(errors) - MAX_ISSUES:,} more problems"))
        raise ScenarioError(_unique(issues)) from None
    problems = checks(scenario)
    if problems:
        raise ScenarioError([ScenarioIssue(where(p.path), dotted(p.path, located.data), p.message) for p in problems])
    return scenario


def _one_line(text: str) -> str:
    return _BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _single(location: str, field: str, message: str) -> ScenarioError:
    return ScenarioError([ScenarioIssue(location, field, message)])


def _unique(issues: list[ScenarioIssue]) -> list[ScenarioIssue]:
    return list(dict.fromkeys(issues))


def _data_path(loc: tuple[str | int, ...], data: Any) -> Path:
    """Pydantic's error location with union and validator labels (such as a discriminator's tag) removed:
    the path into the data. A part the data lacks is kept only at the end (a missing or unknown key)."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        found, child = _child(node, part)
        if found:
            node = child
        elif i < len(loc) - 1 or (isinstance(node, dict) and node.get("kind") == part):
            continue  # a label, such as the tag a discriminated union adds after the item
        path.append(part)
    return tuple(path)


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    """(True, node[part]) where the data has that key or index, else (False, None)."""
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def dotted(path: Path, data: Any) -> str:
    """`workloads.pretrain.parallelism.tp`: list items by their `name` where they have one."""
    parts: list[str] = []
    node = data
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            label = item.get("name") if isinstance(item, dict) else None
            parts.append(str(label) if isinstance(label, str) else f"[{part}]")
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts).replace(".[", "[")


def _explain(error: Any, path: Path, data: Any) -> str:
    """Pydantic's message, reworded to say what is allowed where it does not already."""
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], data)
        return f"unknown key {path[-1]!r}; allowed keys: {', '.join(allowed)}" if allowed else "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_not_found":
        key = str(error["ctx"]["discriminator"]).strip("'")
        return f"needs a `{key}:` key naming its type (see `clustersim schema`)"
    if kind == "model_attributes_type" and path and path[-1] in {"accelerator", "model"}:
        got = type(error.get("input")).__name__
        return f"expected a catalog name or a mapping of {path[-1]} fields, got {got}"
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    value = error.get("input")
    if kind not in {"unknown_catalog_entry"} and isinstance(value, str | int | float) and not isinstance(value, bool):
        return f"{msg} (got {_short(repr(value))})"
    return msg


def _short(text: str, limit: int = 80) -> str:
    """`text`, cut to `limit` characters with a mark of how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _allowed_keys(path: Path, data: Any) -> list[str]:
    """Keys the schema accepts at `path`, found by walking the pydantic models along the data (a union, such as
    a workload's kinds, is resolved by the `kind` of the data item it meets, so a list's items each get theirs)."""
    annotation: Any = Scenario
    node = data
    for part in path:
        if isinstance(part, int):  # the same list annotation, resolved against the item below
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        model = _model_in(annotation, node)
        if model is None:
            return []
        node = node.get(part) if isinstance(node, dict) else None
        info = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if info is None:
            return []
        annotation = info.annotation
    found = _model_in(annotation, node)
    return [] if found is None else [f.alias or n for n, f in found.model_fields.items()]


def _model_in(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (through lists, unions, Annotated), chosen by `kind`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    candidates = [m for a in typing.get_args(annotation) if (m := _model_in(a, node)) is not None]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kind = node.get("kind") if isinstance(node, dict) else None
        for m in candidates:
            field = m.model_fields.get("kind")
            if field is not None and kind in typing.get_args(field.annotation):
                return m
    return candidates[0] if candidates else None
