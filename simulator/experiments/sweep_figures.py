"""What a sweep row holds besides its grid strings: the figures asked for (`--figure PATH`), checked against the
report's model before anything runs, read from each replicate's report and summarised per point; and each grid
value in SI units.

Figure paths are dotted paths into the JSON report, as montecarlo.leaves flattens it (`cluster.utilization`,
`workloads.pretrain.mfu`, `workloads.chat.ttft_s.p50`); a list item is addressed by its index or by its `name`
(`cluster.hottest_links.0.utilization`), as overrides address scenario lists. A path is valid when the Report
model (simulator/report/model.py) has a number there, workloads and tenants by the scenario's names (a workload's
figures those of its kind); leaves montecarlo excludes (wall_s, seed, series, rows) are not figures.

SI values: a grid value is read back from the point's validated scenario (scenario files parse units with
simulator/units.py into SI: "5 min" is 300.0 s, "100 Gbps" 1.25e10 bytes/s); numbers pass through, and a value
that validates to something else (a mapping, a word) has none.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from simulator.experiments.montecarlo import EXCLUDED_LEAVES, ReportData, leaves, summarize
from simulator.experiments.student_t import ci95_half_width
from simulator.report.experiments import SweepFigure
from simulator.report.model import Report
from simulator.scenario.schema import Scenario

Figures = dict[str, float | None]  # one replicate's figures by path


class FigureError(ValueError):
    """A --figure path that names no number of the report."""


def _types(annotation: Any) -> list[Any]:
    """The concrete types an annotation allows (Annotated and unions unwrapped, None dropped)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _types(arg)]
    return [] if annotation is type(None) else [annotation]


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _options(kinds: Sequence[Any], names: Sequence[str]) -> list[str]:
    """What may follow at this level: field names, names of a map or list items, indices."""
    found: list[str] = []
    for kind in kinds:
        if _is_model(kind):
            found += [f for f in kind.model_fields if f not in EXCLUDED_LEAVES]
        elif get_origin(kind) in (dict, list):
            found += [*names, "<index>" if get_origin(kind) is list else "<key>"]
    return list(dict.fromkeys(found))


def _step(kinds: Sequence[Any], part: str, names: Sequence[str], kind_of: Mapping[str, str]) -> list[Any]:
    """The types at `part` below `kinds` (none where it is not there)."""
    found: list[Any] = []
    for kind in kinds:
        if _is_model(kind) and part in kind.model_fields and part not in EXCLUDED_LEAVES:
            found += _types(kind.model_fields[part].annotation)
        elif get_origin(kind) is dict and (not names or part in names):
            found += _types(get_args(kind)[1])
        elif get_origin(kind) is list and (part.isdigit() or part in names):
            found += _types(get_args(kind)[0])
    if part in kind_of:  # a workload: only the report of its kind
        found = [k for k in found if not _is_model(k) or "kind" not in k.model_fields
                 or get_args(k.model_fields["kind"].annotation) == (kind_of[part],)]
    return found


def check_figure(path: str, scenarios: Sequence[Scenario]) -> None:
    """FigureError (naming what is valid there and the closest names) where `path` is no number of the report
    of these scenarios."""
    kind_of = {w.name: w.kind for s in scenarios for w in s.workloads}
    known = {"workloads": list(kind_of)}  # tenants may come from a trace: any name
    kinds: list[Any] = [Report]
    parts = path.split(".")
    for depth, part in enumerate(parts):
        names = known.get(parts[depth - 1], []) if depth == 1 else []
        below = _step(kinds, part, names, kind_of if depth == 1 and parts[0] == "workloads" else {})
        if not below:
            where = ".".join(parts[:depth]) or "the report"
            options = _options(kinds, names)
            close = get_close_matches(part, options, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise FigureError(f"--figure {path}: {where} has no {part!r}{hint} (there: {', '.join(options)})")
        kinds = below
    if not any(k in (int, float) for k in kinds):
        below_it = ", ".join(_options(kinds, []))
        raise FigureError(f"--figure {path}: not a number" + (f" (below it: {below_it})" if below_it else ""))


def _walk(data: Any, path: str) -> tuple[str, Any] | None:
    """(the path with list items by index, the value there) in JSON data; None where it is not there."""
    found: list[str] = []
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, list) and (index := next((i for i, item in enumerate(data) if isinstance(item, Mapping)
                                                        and item.get("name") == part), None)) is not None:
            data, part = data[index], str(index)
        else:
            return None
        found.append(part)
    return ".".join(found), data


def replicate_figures(report: ReportData, paths: Sequence[str]) -> Figures:
    """One replicate's figures at `paths` among the numbers montecarlo.leaves finds in its report (None where
    a figure is null, missing or not a number)."""
    flat = dict(leaves(report))
    found: Figures = {}
    for path in paths:
        where = _walk(report, path)
        value = flat.get(where[0]) if where else None
        found[path] = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return found


def point_figures(replicates: Sequence[Figures], paths: Sequence[str]) -> dict[str, SweepFigure]:
    """A point's figures over its replicates: the mean and Student-t 95 % half-width over the replicates where
    each is a number (montecarlo.summarize); a figure never a number is left out."""
    found = {}
    for path in paths:
        values = [v for r in replicates if (v := r.get(path)) is not None]
        if values:
            stats = summarize(values)
            found[path] = SweepFigure(mean=stats.mean, ci95=ci95_half_width(stats.std, stats.n))
    return found


def grid_si(scenarios: Sequence[Scenario], keys: Sequence[str]) -> list[dict[str, float | None]]:
    """Per point, each grid key's value as its validated scenario holds it, in SI units; only keys that are
    numbers at every point."""
    values = []
    for scenario in scenarios:
        data = scenario.model_dump(mode="json", by_alias=True)
        found = {}
        for key in keys:
            where = _walk(data, key)
            value = where[1] if where else None
            found[key] = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        values.append(found)
    numeric = [k for k in keys if all(v[k] is not None for v in values)]
    return [{k: v[k] for k in numeric} for v in values]
