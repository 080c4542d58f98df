"""Generate the field reference (docs/scenario.md, docs/report.md) from the pydantic models' descriptions,
so the documentation cannot drift from the code: `python -m simulator.tools.fielddocs` rewrites both files and
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

from simulator.report.model import Report
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
        "Generated from `simulator/report/model.py` by `python -m simulator.tools.fielddocs`; do not edit.\n\n"
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


_OUTROS = {
    "report.md": """## HTML pages

`clustersim run S --html run.html` and `clustersim compare A B --html cmp.html` write one self-contained page:
tables as HTML text, and interactive plotly.js figures (drag to zoom, double-click to reset, hover for values
with their units; titles, axis labels and legends are SVG text, so Ctrl-F finds them). plotly.js (v4, from the
installed `plotly` package, never fetched) is inlined once per page: a page is about 5 MB, of which plotly.min.js
is 4.8 MB. It loads no URL and works offline; the same report gives the same bytes (the simulation's wall time
is left out). Times are simulated, in days, hours or minutes by the run's length.

The run page, top to bottom:
- **Cluster summary:** time, GPUs, utilization, price, cost, energy; the electricity price and carbon read
  `not set` where the scenario does not set them (`pricing.electricity_usd_per_kwh`, `carbon_kg_per_kwh`).
- **Cluster use:** allocated and computing GPUs against the cluster's size; GPUs on failed nodes and workloads
  queued on a right axis.
- **Workload progress:** each workload's work done (%); for a training job its goodput, the progress between
  samples over the progress of uninterrupted steps (%); below, one row per workload and event kind (failures,
  checkpoints, with their count) with a marker per event, hover giving its time and cause. Zoom in on a row to
  tell hundreds of failures apart.
- **Where the money went:** cost of the cluster and each workload, stacked by use (`cost_breakdown`).
- **Energy:** GPUs and servers against the network, kWh at the meter; carbon in the title.
- **Network load by tier:** with training traffic, each tier's mean channel utilization over time.
- **Tenants and batch jobs** (several tenants or job streams): the tenant and jobs tables; GPUs by tenant,
  stacked, with fragmentation of the free GPUs; each batch job's time queued against its submission (hover: name,
  tenant, GPUs, slowdown), with the jobs running.
- **Each workload:** its table; for a serving workload four figures: requests queued and in a batch with the
  replicas up; replica busy time (between samples) and KV-cache use, with the run's averages dotted;
  TTFT and end-to-end p50 and p99 of the requests between samples, with the TTFT objective (log scale); and
  the TTFT, TPOT and end-to-end CDFs with the objectives (log scale).

The compare page: cost, simulated time, utilization and energy of every run as bars; every headline figure
divided by the baseline's (`--baseline NAME`, default the first run); the terminal's comparison table (the same
rows and units, ratios to the baseline in parentheses, training step breakdowns); then each run's page body.

Series come from one sampling process (`series`, at most 512 samples; failure and checkpoint markers at most
1,000 of each, spread over the run). A service's series cost O(replicas) per sample and nothing per request;
windowed latencies are computed from the requests' times when the report is built.
""",
}


def render(model: type[BaseModel], filename: str) -> str:
    """The markdown reference for `model` and every model nested in it, then the file's closing sections."""
    outro = _OUTROS.get(filename)
    return _INTROS[filename] + "\n" + "\n".join(_section(model, set())) + ("\n" + outro if outro else "")


def documents() -> dict[Path, str]:
    """Each generated document by path."""
    return {DOCS / "scenario.md": render(Scenario, "scenario.md"), DOCS / "report.md": render(Report, "report.md")}


if __name__ == "__main__":
    for path, text in documents().items():
        path.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
