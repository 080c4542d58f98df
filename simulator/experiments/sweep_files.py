"""A sweep's rows as files and flat records: CSV, a JSON list or JSON lines, read back for a resume.

Columns (CSV, and the keys of `flat` records), in this order:
- one per grid key, the value as given (`5 min`);
- `<key>_si` for each grid key whose values are all numbers once validated: the value in SI units (300.0);
- aggregated rows: `replicates`; per-replicate rows: `replicate` (index at its point) and `seed`;
- the fingerprint: `fingerprint`, `scenario_sha256`, `overrides` (a JSON list), `clustersim_version`;
- aggregated rows: `<figure>.mean` and `<figure>.ci95` (half-width of the Student-t 95 % interval; empty for one
  replicate) per figure; per-replicate rows: `<figure>`, the replicate's value. A figure that is not a number
  is an empty cell (None in a record).
The JSON forms hold the SweepRow / ReplicateRow models (simulator/report/experiments.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.report.experiments import ReplicateRow, SweepFigure, SweepRow
from simulator.report.files import write_atomic

Row = SweepRow | ReplicateRow
FINGERPRINT_COLUMNS = ("fingerprint", "scenario_sha256", "overrides", "clustersim_version")


class SweepError(Exception):
    """A sweep without --grid options, or an output file it cannot resume."""


def columns(keys: Sequence[str], si_keys: Sequence[str], figures: Sequence[str], per_replicate: bool) -> list[str]:
    """The header of a sweep's rows (see the module doc)."""
    counts = ["replicate", "seed"] if per_replicate else ["replicates"]
    values = list(figures) if per_replicate else [f"{path}.{stat}" for path in figures for stat in ("mean", "ci95")]
    return [*keys, *(f"{key}_si" for key in si_keys), *counts, *FINGERPRINT_COLUMNS, *values]


def flat(row: Row) -> dict[str, Any]:
    """A row as one flat record: column -> str, int, float or None (see the module doc)."""
    record: dict[str, Any] = {**row.grid, **{f"{key}_si": value for key, value in row.grid_si.items()}}
    if isinstance(row, SweepRow):
        record["replicates"] = row.replicates
    else:
        record.update(replicate=row.replicate, seed=row.seed)
    record.update(fingerprint=row.fingerprint, scenario_sha256=row.scenario_sha256, overrides=row.overrides,
                  clustersim_version=row.clustersim_version)
    for path, figure in row.figures.items():
        if isinstance(figure, SweepFigure):
            record[f"{path}.mean"], record[f"{path}.ci95"] = figure.mean, figure.ci95
        else:
            record[path] = figure
    return record


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def csv_text(rows: Sequence[Row], header: Sequence[str]) -> str:
    """Header and rows as CSV (floats in full precision, missing figures empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        record = flat(row)
        writer.writerow([_cell(record.get(column)) for column in header])
    return buffer.getvalue()


def json_text(rows: Sequence[Row]) -> str:
    """Rows as an indented JSON list."""
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)


def file_format(path: Path) -> str:
    """`json`, `jsonl` or `csv`, by the file's suffix."""
    suffix = path.suffix.lower()
    return "json" if suffix == ".json" else "jsonl" if suffix == ".jsonl" else "csv"


def _complete_text(path: Path) -> str:
    """The file's text without an unfinished last line (one written before writes were atomic)."""
    text = path.read_text(encoding="utf-8")
    return text[: text.rfind("\n") + 1] if text and not text.endswith("\n") else text


def read_rows(path: Path, keys: Sequence[str], header: Sequence[str], per_replicate: bool) -> list[Row]:
    """The rows already in an output file (none if it does not exist); SweepError if it belongs to another
    sweep (other columns or grid keys, the other row kind) or cannot be read."""
    if not path.exists():
        return []
    model: type[Row] = ReplicateRow if per_replicate else SweepRow
    kind = file_format(path)
    try:
        if kind == "json":
            text = path.read_text(encoding="utf-8")
            rows = [model.model_validate(item) for item in json.loads(text)] if text.strip() else []
        elif kind == "jsonl":
            lines = _complete_text(path).splitlines()
            rows = [model.model_validate_json(line) for line in lines if line.strip()]
        else:
            rows = _read_csv(path, keys, header, per_replicate)
    except (OSError, UnicodeDecodeError, ValueError, ValidationError, TypeError) as err:
        if isinstance(err, SweepError):
            raise
        what = "rows per replicate (--per-replicate)" if per_replicate else "a row per point (no --per-replicate)"
        raise SweepError(f"{path}: cannot resume from it: this sweep writes {what}; {err}") from None
    for row in rows:
        if list(row.grid) != list(keys):
            raise SweepError(f"{path}: has rows for grid keys {', '.join(row.grid)}, not {', '.join(keys)}; "
                             "write this sweep to another file")
    return rows


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _read_csv(path: Path, keys: Sequence[str], header: Sequence[str], per_replicate: bool) -> list[Row]:
    records = list(csv.reader(io.StringIO(_complete_text(path))))
    if not records:
        return []
    if records[0] != list(header):
        raise SweepError(f"{path}: its columns differ from this sweep's (other grid keys, workloads, --figure or "
                         "--per-replicate, or written by an older clustersim without the _si columns); write this "
                         "sweep to another file, or start it over with --fresh")
    rows: list[Row] = []
    si_keys = [k for k in keys if f"{k}_si" in header]
    first = len(keys) + len(si_keys) + (2 if per_replicate else 1) + len(FINGERPRINT_COLUMNS)
    for number, record in enumerate(records[1:], start=2):
        if len(record) != len(header):
            raise SweepError(f"{path}:{number}: {len(record)} cells, the header has {len(header)}")
        cells = dict(zip(header, record, strict=True))
        common: dict[str, Any] = dict(
            grid={k: cells[k] for k in keys}, grid_si={k: _number(cells[f"{k}_si"]) for k in si_keys},
            fingerprint=cells["fingerprint"], scenario_sha256=cells["scenario_sha256"],
            overrides=json.loads(cells["overrides"]), clustersim_version=cells["clustersim_version"])
        if per_replicate:
            rows.append(ReplicateRow(**common, replicate=int(cells["replicate"]), seed=int(cells["seed"]),
                                     figures={c: _number(cells[c]) for c in header[first:]}))
            continue
        figures = {}
        for column in header[first::2]:
            name = column.removesuffix(".mean")
            mean = _number(cells[column])
            if mean is not None:
                figures[name] = SweepFigure(mean=mean, ci95=_number(cells[f"{name}.ci95"]))
        rows.append(SweepRow(**common, replicates=int(cells["replicates"]), figures=figures))
    return rows


def write_rows(path: Path, rows: Sequence[Row], header: Sequence[str]) -> None:
    """The output file holding `rows`, rewritten whole through a temporary file (never partial)."""
    kind = file_format(path)
    if kind == "json":
        text = json_text(rows) + "\n"
    elif kind == "jsonl":
        text = "".join(r.model_dump_json() + "\n" for r in rows)
    else:
        text = csv_text(rows, header)
    write_atomic(path, text)
