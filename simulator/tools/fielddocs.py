"""Generate the field reference (docs/scenario.md, docs/report.md) from the pydantic models' descriptions
(and docs/report.md's exported files and trace from report/export.py and trace.py), so the documentation cannot
drift from the code: `python -m simulator.tools.fielddocs` rewrites both files and
a test fails when they are stale."""

from __future__ import annotations

import enum
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from simulator.report.export import columns_doc
from simulator.report.model import Report
from simulator.report.trace import trace_doc
from simulator.scenario.schema import Scenario

DOCS = Path(__file__).resolve().parents[2] / "docs"

_INTROS = {
    "scenario.md": (
        "# Scenario file reference\n\n"
        "Generated from `simulator/scenario/schema.py` by `python -m simulator.tools.fielddocs`; do not edit.\n\n"
        "Quantities take a plain number in the SI unit shown, or a string with a unit: bandwidth "
        "(`200 Gbps`, `50 GB/s`), sizes (`80 GiB`, `40 GB`), durations (`90 s`, `30 min`, `54 d`), counts "
        "(`26B`, `1M`, `15.6T`), FLOP rates (`989 TFLOP/s`), power (`700 W`). Unknown keys are errors. "
        "`accelerator:` and `model:` take a catalog name (`clustersim catalog accelerators|models`), an "
        "inline mapping of the fields below, or `{base: <catalog name>, <field>: <new value>, ...}`.\n"
    ),
    "report.md": (
        "# Report reference\n\n"
        "Generated from `simulator/report/model.py` by `python -m simulator.tools.fielddocs`; do not edit "
        "above \"HTML pages\".\n\n"
        "`clustersim run S -o report.json` writes this structure; `--json` prints it. All times are "
        "simulated seconds except `wall_s`.\n"
    ),
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _quantity(metadata: typing.Iterable[Any]) -> str | None:
    """'quantity (bytes/s)' for the unit-parsing types of simulator/units.py."""
    for item in metadata:
        if isinstance(item, WithJsonSchema) and item.json_schema:
            return f"quantity ({str(item.json_schema.get('description', '')).split(';')[0]})"
    return None


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " or ".join(repr(member.value) for member in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return _quantity(metadata) or _type_name(base)
    if origin is tuple:
        return f"list[{_type_name(typing.get_args(annotation)[0])}]"
    if isinstance(annotation, types.UnionType) or origin is typing.Union:
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return str(annotation)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return "see below"
    value = info.default
    if value is PydanticUndefined:
        return ""
    return "null" if value is None else f"`{getattr(value, 'value', value)}`"


def _section(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    seen.add(model)
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    lines = [f"## {model.__name__}", "", doc, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    nested: list[type[BaseModel]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        unit = f" (attribute `{name}`)" if info.alias and info.alias != name else ""
        description = (info.description or "").replace("|", "\\|")
        kind = _quantity(info.metadata) or _type_name(info.annotation)
        lines.append(f"| `{key}` | {kind} | {_default(info)} | {description}{unit} |")
        nested += [m for m in _models_in(info.annotation) if m not in seen and m not in nested]
    lines.append("")
    for sub in nested:
        if sub not in seen:
            lines += _section(sub, seen)
    return lines


HANDWRITTEN = "## HTML pages\n"  # report.md from this heading on is written by hand and kept as it is


def _handwritten(filename: str) -> str:
    """The hand-written end of a generated document (from HANDWRITTEN on), as the file holds it now."""
    path = DOCS / filename
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return text[text.index(HANDWRITTEN):] if HANDWRITTEN in text else ""


def render(model: type[BaseModel], filename: str, generated: tuple[str, ...] = ()) -> str:
    """The markdown reference for `model` and every model nested in it, the `generated` sections after it, then
    the file's hand-written end."""
    handwritten = _handwritten(filename)
    return "\n".join([_INTROS[filename], *_section(model, set()), *generated, *([handwritten] if handwritten else [])])


def documents() -> dict[Path, str]:
    """Each generated document by path."""
    return {DOCS / "scenario.md": render(Scenario, "scenario.md"),
            DOCS / "report.md": render(Report, "report.md", (columns_doc(), trace_doc()))}


if __name__ == "__main__":
    for path, text in documents().items():
        path.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
