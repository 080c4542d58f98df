"""Parameter sweeps: the cartesian product of `--grid FIELD.PATH=V1,V2,...` options, each grid point run with
Monte Carlo replicates (simulator/experiments/montecarlo.py), one row of headline figures per point.

The --grid options follow the rules of simulator/scenario/overrides.py (those of `--set` and `compare
--vary`). A grid point is one override per --grid option, applied after the sweep's `--set` overrides
through load_scenario; so a problem with a point's value is reported at its option, `--grid:N: field:
message`. Every point is validated before anything runs. Every point draws its replicate seeds from the
scenario's one `seed` (montecarlo.py), so points are compared under common random numbers: replicate i
of every point starts from the same seed.

Output (`-o`), chosen by the file's suffix:
- `.json`: a JSON list of rows (SweepRow: grid values, replicates, {mean, ci95} per headline figure),
  rewritten whole (through a temporary file) after every finished point;
- `.jsonl`: one SweepRow JSON object per line, appended;
- anything else: CSV with a header, appended: one column per grid key holding the value as given, then
  `replicates`, then `<figure>.mean` and `<figure>.ci95` (the half-width of the 95 % confidence interval)
  per headline figure (report/figures.py, headline_paths); a figure a point lacks is an empty cell.
Resume: where the output exists, the points whose grid values (the strings as given, compared exactly) are
already in it are skipped and the others appended; a CSV whose columns differ from this sweep's, or rows
with other grid keys, is an error rather than a mixed file. An unfinished last line (an interrupted write)
is dropped and its point run again.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from simulator.experiments.montecarlo import Progress, RemoteRunner, run_batches
from simulator.plan.load import load_scenario
from simulator.report.experiments import ReplicatesReport, SweepFigure, SweepRow
from simulator.report.figures import headline_paths
from simulator.scenario.loader import ScenarioError
from simulator.scenario.overrides import LIST_FORM, Variant, parse_axes, variants
from simulator.scenario.schema import Scenario

GridKey = tuple[str, ...]  # a point's values, in grid-key order


class SweepError(Exception):
    """A sweep without --grid options, or an output file it cannot resume."""


class InvalidPoints(Exception):
    """Grid points whose overrides do not validate, each with the loader's located problems."""

    def __init__(self, failures: list[tuple[Variant, ScenarioError]]) -> None:
        super().__init__("\n".join(f"{point.label}: {error}" for point, error in failures))
        self.failures = failures


def point_key(point: Variant) -> GridKey:
    """A point's grid values as given, the key of its row in an output file."""
    return tuple(point.given.values())


def load_points(path: str | Path, sets: Sequence[str], points: Sequence[Variant]) -> list[Scenario]:
    """The validated scenario of every point (plain `sets`, then the point's overrides); raises InvalidPoints
    naming every point that fails."""
    scenarios: list[Scenario] = []
    failures: list[tuple[Variant, ScenarioError]] = []
    for point in points:
        try:
            scenarios.append(load_scenario(path, sets, point.overrides))
        except ScenarioError as err:
            failures.append((point, err))
    if failures:
        raise InvalidPoints(failures)
    return scenarios


def columns(keys: Sequence[str], figures: Sequence[str]) -> list[str]:
    """CSV header: grid keys, replicates, then mean and CI half-width of each headline figure."""
    return [*keys, "replicates", *(f"{path}.{stat}" for path in figures for stat in ("mean", "ci95"))]


def make_row(point: Variant, report: ReplicatesReport, paths: Sequence[str]) -> SweepRow:
    """A point's row: its grid values and the headline figures (`paths`) of its replicates."""
    figures = {}
    for path in paths:
        stats = report.figures.get(path)
        if stats is not None:
            figures[path] = SweepFigure(mean=stats.mean, ci95=(stats.ci95_high - stats.ci95_low) / 2)
    return SweepRow(grid=point.given, replicates=report.replicates, figures=figures)


def csv_record(row: SweepRow, header: Sequence[str]) -> list[str]:
    """A row as CSV cells under `header` (floats in full precision, missing figures empty)."""
    cells: dict[str, str] = {**row.grid, "replicates": str(row.replicates)}
    for path, figure in row.figures.items():
        cells[f"{path}.mean"] = repr(figure.mean)
        cells[f"{path}.ci95"] = repr(figure.ci95)
    return [cells.get(column, "") for column in header]


def csv_text(rows: Sequence[SweepRow], header: Sequence[str]) -> str:
    """Header and rows as CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(csv_record(row, header) for row in rows)
    return buffer.getvalue()


def json_text(rows: Sequence[SweepRow]) -> str:
    """Rows as an indented JSON list."""
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    return "json" if suffix == ".json" else "jsonl" if suffix == ".jsonl" else "csv"


def _complete_text(path: Path) -> str:
    """The file's text without an unfinished last line (which is cut from the file too)."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        path.write_text(text, encoding="utf-8")
    return text


def read_rows(path: Path, keys: Sequence[str], header: Sequence[str]) -> list[SweepRow]:
    """The rows already in an output file (none if it does not exist); SweepError if it belongs to another
    sweep (other columns or grid keys) or cannot be read."""
    if not path.exists():
        return []
    kind = _format(path)
    try:
        if kind == "json":
            text = path.read_text(encoding="utf-8")
            rows = [SweepRow.model_validate(item) for item in json.loads(text)] if text.strip() else []
        elif kind == "jsonl":
            lines = _complete_text(path).splitlines()
            rows = [SweepRow.model_validate_json(line) for line in lines if line.strip()]
        else:
            rows = _read_csv(path, keys, header)
    except (OSError, UnicodeDecodeError, ValueError, ValidationError, TypeError) as err:
        if isinstance(err, SweepError):
            raise
        raise SweepError(f"{path}: cannot resume from it: {err}") from None
    for row in rows:
        if list(row.grid) != list(keys):
            raise SweepError(f"{path}: has rows for grid keys {', '.join(row.grid)}, not {', '.join(keys)}; "
                             "write this sweep to another file")
    return rows


def _read_csv(path: Path, keys: Sequence[str], header: Sequence[str]) -> list[SweepRow]:
    records = list(csv.reader(io.StringIO(_complete_text(path))))
    if not records:
        return []
    if records[0] != list(header):
        raise SweepError(f"{path}: its columns differ from this sweep's (other grid keys, workloads or version); "
                         "write this sweep to another file")
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if len(record) != len(header):
            raise SweepError(f"{path}:{number}: {len(record)} cells, the header has {len(header)}")
        cells = dict(zip(header, record, strict=True))
        figures = {}
        for column in header[len(keys) + 1::2]:
            path_ = column.removesuffix(".mean")
            if cells[column] != "":
                figures[path_] = SweepFigure(mean=float(cells[column]), ci95=float(cells[f"{path_}.ci95"]))
        rows.append(SweepRow(grid={k: cells[k] for k in keys}, replicates=int(cells["replicates"]), figures=figures))
    return rows


def append_row(path: Path, row: SweepRow, header: Sequence[str], rows_in_file: list[SweepRow]) -> None:
    """Add a finished point to the output file (and to `rows_in_file`, what the file holds)."""
    kind = _format(path)
    rows_in_file.append(row)
    if kind == "json":
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json_text(rows_in_file) + "\n", encoding="utf-8")
        os.replace(temporary, path)
        return
    fresh = not path.exists() or path.stat().st_size == 0
    with path.open("a", encoding="utf-8", newline="") as file:
        if kind == "jsonl":
            file.write(row.model_dump_json() + "\n")
        else:
            writer = csv.writer(file, lineterminator="\n")
            if fresh:
                writer.writerow(header)
            writer.writerow(csv_record(row, header))


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its points and scenarios, its columns, and the rows an output file already holds."""

    points: list[Variant]
    scenarios: list[Scenario]
    figures: list[str]  # headline figures, by dotted path
    header: list[str]
    output: Path | None
    in_file: list[SweepRow]

    @property
    def done(self) -> dict[GridKey, SweepRow]:
        """Rows of this grid already in the output file, by grid values."""
        return {tuple(row.grid.values()): row for row in self.in_file}

    @property
    def todo(self) -> list[int]:
        """Indices of the points still to run."""
        done = self.done
        return [i for i, point in enumerate(self.points) if point_key(point) not in done]


def prepare(path: str | Path, grid: Sequence[str], sets: Sequence[str], output: str | Path | None) -> Sweep:
    """Parse the grid, validate every point and read what the output already holds. Raises OverrideError (a
    malformed --grid), SweepError or InvalidPoints; runs nothing."""
    axes = parse_axes("--grid", grid)
    if not axes:
        raise SweepError(f"a sweep needs at least one --grid {LIST_FORM}")
    points = variants(axes)
    scenarios = load_points(path, sets, points)
    workloads = {w.name: w.kind for s in scenarios for w in s.workloads}
    figures = headline_paths(workloads, jobs=any(s.jobs for s in scenarios))
    keys = [axis.field for axis in axes]
    header = columns(keys, figures)
    target = Path(output) if output else None
    in_file = read_rows(target, keys, header) if target else []
    return Sweep(points, scenarios, figures, header, target, in_file)


def run_sweep(sweep: Sweep, replicates: int, workers: int | None = None,
              progress: Progress | None = None, remote: RemoteRunner | None = None) -> list[SweepRow]:
    """Run the points not yet in the output, each with `replicates` seeds on the pool (or `remote`: Ray),
    appending each row to the output as it finishes; every point's row in grid order (earlier ones read from
    the file)."""
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    rows: dict[int, SweepRow] = {}
    done = sweep.done
    for index, point in enumerate(sweep.points):
        if point_key(point) in done:
            rows[index] = done[point_key(point)]
    todo = sweep.todo
    in_file = list(sweep.in_file)
    batches = [(sweep.scenarios[i], replicates) for i in todo]
    for batch, report in run_batches(batches, workers, progress, remote):
        index = todo[batch]
        row = make_row(sweep.points[index], report, sweep.figures)
        if sweep.output is not None:
            append_row(sweep.output, row, sweep.header, in_file)
        rows[index] = row
    return [rows[i] for i in range(len(sweep.points))]
