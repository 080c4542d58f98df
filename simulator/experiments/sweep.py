"""Parameter sweeps: the cartesian product of `--grid FIELD.PATH=V1,V2,...` options, each grid point run with
Monte Carlo replicates (simulator/experiments/montecarlo.py), one row of headline figures per point.

The --grid options follow the rules of simulator/scenario/overrides.py (those of `--set` and `compare
--vary`). A grid point is one override per --grid option, applied after the sweep's `--set` overrides
through load_scenario; so a problem with a point's value is reported at its option, `--grid:N: field:
message`. Every point is validated before anything runs. Every point draws its replicate seeds from the
scenario's one `seed` (montecarlo.py), so points are compared under common random numbers: replicate i
of every point starts from the same seed.

Output (`-o`), chosen by the file's suffix, rewritten whole through a temporary file after every finished point
(so a killed sweep leaves the rows it finished, never a partial file):
- `.json`: a JSON list of rows (SweepRow: grid values, replicates, the sweep's fingerprint, {mean, ci95} per
  headline figure);
- `.jsonl`: one SweepRow JSON object per line;
- anything else: CSV with a header: one column per grid key holding the value as given, then `replicates`,
  the fingerprint columns, then `<figure>.mean` and `<figure>.ci95` (the half-width of the 95 % confidence
  interval) per headline figure (report/figures.py, headline_paths); a figure a point lacks is an empty cell.
Fingerprint: a hash of the scenario file and every file it reads, the `--set` options, the replicates and the
clustersim version; every row carries its sweep's. Resume: where the output exists, the points whose grid values
(the strings as given, compared exactly) are already in it are skipped and the others added; a file holding
rows of another fingerprint, a CSV whose columns differ, or rows with other grid keys, is refused (naming what
differs) rather than mixed; `fresh` starts the file over.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from simulator import __version__
from simulator.experiments.montecarlo import Progress, RemoteRunner, run_batches
from simulator.plan.load import load_scenario
from simulator.report.experiments import ReplicatesReport, SweepFigure, SweepRow
from simulator.report.figures import headline_paths
from simulator.report.files import check_outputs, write_atomic
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


@dataclass(frozen=True)
class Fingerprint:
    """What makes a sweep's rows comparable: its scenario (the file and every file it reads), its --set options,
    its replicates and the clustersim version."""

    scenario_sha256: str
    overrides: tuple[str, ...]
    replicates: int
    clustersim_version: str

    @property
    def digest(self) -> str:
        """A short hash of all four."""
        text = json.dumps([self.scenario_sha256, list(self.overrides), self.replicates, self.clustersim_version])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def differences(self, row: SweepRow) -> list[str]:
        """How `row`'s sweep differs from this one, in words."""
        found = []
        if row.clustersim_version != self.clustersim_version:
            found.append(f"written by clustersim {row.clustersim_version}, this is {self.clustersim_version}")
        if row.replicates != self.replicates:
            found.append(f"{row.replicates} replicates per point, this sweep runs {self.replicates}")
        if row.overrides != list(self.overrides):
            found.append(f"--set {' '.join(row.overrides) or '(none)'}, this sweep has "
                         f"{' '.join(self.overrides) or '(none)'}")
        if row.scenario_sha256 != self.scenario_sha256:
            found.append("the scenario file or a file it reads has changed since")
        return found or ["another fingerprint"]


FINGERPRINT_COLUMNS = ("fingerprint", "scenario_sha256", "overrides", "clustersim_version")


def fingerprint(path: str | Path, scenarios: Sequence[Scenario], sets: Sequence[str], replicates: int) -> Fingerprint:
    """The fingerprint of a sweep of the scenario file `path` whose points validated to `scenarios`."""
    digest = hashlib.sha256(Path(path).read_bytes())
    for source in sorted({f for s in scenarios for f in s.input_files()}):
        digest.update(source.encode())
        digest.update(Path(source).read_bytes())
    return Fingerprint(digest.hexdigest(), tuple(sets), replicates, __version__)


def columns(keys: Sequence[str], figures: Sequence[str]) -> list[str]:
    """CSV header: grid keys, replicates, the fingerprint, then mean and CI half-width of each headline figure."""
    return [*keys, "replicates", *FINGERPRINT_COLUMNS,
            *(f"{path}.{stat}" for path in figures for stat in ("mean", "ci95"))]


def make_row(point: Variant, report: ReplicatesReport, paths: Sequence[str], of: Fingerprint) -> SweepRow:
    """A point's row: its grid values, its sweep's fingerprint and the headline figures (`paths`) of its
    replicates."""
    figures = {}
    for path in paths:
        stats = report.figures.get(path)
        if stats is not None:
            figures[path] = SweepFigure(mean=stats.mean, ci95=(stats.ci95_high - stats.ci95_low) / 2)
    return SweepRow(grid=point.given, replicates=report.replicates, fingerprint=of.digest,
                    scenario_sha256=of.scenario_sha256, overrides=list(of.overrides),
                    clustersim_version=of.clustersim_version, figures=figures)


def csv_record(row: SweepRow, header: Sequence[str]) -> list[str]:
    """A row as CSV cells under `header` (floats in full precision, missing figures empty)."""
    cells: dict[str, str] = {**row.grid, "replicates": str(row.replicates), "fingerprint": row.fingerprint,
                             "scenario_sha256": row.scenario_sha256, "overrides": json.dumps(row.overrides),
                             "clustersim_version": row.clustersim_version}
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
    """The file's text without an unfinished last line (one written before writes were atomic)."""
    text = path.read_text(encoding="utf-8")
    return text[: text.rfind("\n") + 1] if text and not text.endswith("\n") else text


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
                         "write this sweep to another file, or start it over with --fresh")
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if len(record) != len(header):
            raise SweepError(f"{path}:{number}: {len(record)} cells, the header has {len(header)}")
        cells = dict(zip(header, record, strict=True))
        figures = {}
        for column in (c for c in header if c.endswith(".mean")):
            path_ = column.removesuffix(".mean")
            if cells[column] != "":
                figures[path_] = SweepFigure(mean=float(cells[column]), ci95=float(cells[f"{path_}.ci95"]))
        rows.append(SweepRow(grid={k: cells[k] for k in keys}, replicates=int(cells["replicates"]),
                             fingerprint=cells["fingerprint"], scenario_sha256=cells["scenario_sha256"],
                             overrides=json.loads(cells["overrides"]), clustersim_version=cells["clustersim_version"],
                             figures=figures))
    return rows


def append_row(path: Path, row: SweepRow, header: Sequence[str], rows_in_file: list[SweepRow]) -> None:
    """Add a finished point to the output file (and to `rows_in_file`, what the file holds): the whole file is
    rewritten through a temporary file, so it is never partial."""
    rows_in_file.append(row)
    kind = _format(path)
    if kind == "json":
        text = json_text(rows_in_file) + "\n"
    elif kind == "jsonl":
        text = "".join(r.model_dump_json() + "\n" for r in rows_in_file)
    else:
        text = csv_text(rows_in_file, header)
    write_atomic(path, text)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its points and scenarios, its columns, and the rows an output file already holds."""

    points: list[Variant]
    scenarios: list[Scenario]
    figures: list[str]  # headline figures, by dotted path
    header: list[str]
    output: Path | None
    in_file: list[SweepRow]
    fingerprint: Fingerprint

    @property
    def done(self) -> dict[GridKey, SweepRow]:
        """Rows of this grid already in the output file, by grid values."""
        return {tuple(row.grid.values()): row for row in self.in_file}

    @property
    def todo(self) -> list[int]:
        """Indices of the points still to run."""
        done = self.done
        return [i for i, point in enumerate(self.points) if point_key(point) not in done]


def prepare(path: str | Path, grid: Sequence[str], sets: Sequence[str], output: str | Path | None,
            replicates: int = 1, fresh: bool = False) -> Sweep:
    """Parse the grid, validate every point and read what the output already holds (nothing when `fresh`: the
    file is then written over). Raises OverrideError (a malformed --grid), SweepError (also for an output of
    another fingerprint), OutputError (an output that is an input) or InvalidPoints; runs nothing."""
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
    if target is not None:  # before reading it: never an input, even with `fresh`
        check_outputs({"-o": str(target)}, [path, *{f for s in scenarios for f in s.input_files()}])
    of = fingerprint(path, scenarios, sets, replicates)
    in_file = read_rows(target, keys, header) if target and not fresh else []
    for row in in_file:
        if row.fingerprint != of.digest:
            assert target is not None
            raise SweepError(f"{target}: holds rows of another sweep ({'; '.join(of.differences(row))}); start it "
                             "over with --fresh, or write this sweep to another file")
    return Sweep(points, scenarios, figures, header, target, in_file, of)


def run_sweep(sweep: Sweep, workers: int | None = None,
              progress: Progress | None = None, remote: RemoteRunner | None = None) -> list[SweepRow]:
    """Run the points not yet in the output, each with the fingerprint's replicates on the pool (or `remote`:
    Ray), adding each row to the output as it finishes; every point's row in grid order (earlier ones read from
    the file)."""
    replicates = sweep.fingerprint.replicates
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
        row = make_row(sweep.points[index], report, sweep.figures, sweep.fingerprint)
        if sweep.output is not None:
            append_row(sweep.output, row, sweep.header, in_file)
        rows[index] = row
    return [rows[i] for i in range(len(sweep.points))]
