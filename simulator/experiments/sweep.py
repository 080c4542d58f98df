"""Parameter sweeps: the cartesian product of `--grid FIELD.PATH=V1,V2,...` options, each grid point run with
Monte Carlo replicates (simulator/experiments/montecarlo.py); one row per point (mean and Student-t 95 %
half-width of each figure) or, with `per_replicate`, one row per replicate (its seed and figures).

The --grid options follow the rules of simulator/scenario/overrides.py (those of `--set` and `compare
--vary`). A grid point is one override per --grid option, applied after the sweep's `--set` overrides
through load_scenario; so a problem with a point's value is reported at its option, `--grid:N: field:
message`. Every point and every --figure path (sweep_figures.py) is validated before anything runs. Every
point draws its replicate seeds from the scenario's one `seed` (montecarlo.py), so points are compared under
common random numbers: replicate i of every point starts from the same seed, and the same seeds give the same
rows.

Figures: `figures` (dotted report paths), default report/figures.py's sweep_paths (the replicates' headline
figures plus MFU, step time and tokens/s of training, TTFT p50 and throughput of serving). Columns and file
formats: sweep_files.py. Output (`-o`), chosen by the file's suffix, is rewritten whole through a temporary
file after every finished point (a killed sweep leaves the rows it finished, never a partial file).

Fingerprint: a hash of the scenario file and every file it reads, the `--set` options, the replicates, the
figures, the row kind and the clustersim version; every row carries its sweep's. Resume: where the output
exists, the points whose grid values (the strings as given, compared exactly) are already in it are skipped
and the others added; a file holding rows of another fingerprint, a CSV whose columns differ, or rows with
other grid keys, is refused (naming what differs) rather than mixed; `fresh` starts the file over.

Python: `sweep(path, {field: [values]})` returns a SweepResult (rows as models, `points` aggregated, and
`records()` as plain dicts); `prepare` + `run_sweep` are the same in two steps (the CLI's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator import __version__
from simulator.experiments.montecarlo import Progress, RemoteRunner, ReportData, run_batches
from simulator.experiments.sweep_figures import Figures, check_figure, grid_si, point_figures, replicate_figures
from simulator.experiments.sweep_files import Row, SweepError, columns, flat, read_rows, write_rows
from simulator.plan.load import load_scenario
from simulator.report.experiments import ReplicateRow, SweepRow
from simulator.report.figures import sweep_paths
from simulator.report.files import check_outputs
from simulator.scenario.loader import ScenarioError
from simulator.scenario.overrides import LIST_FORM, Variant, parse_axes, value_text, variants
from simulator.scenario.schema import Scenario

GridKey = tuple[str, ...]  # a point's values, in grid-key order


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
    its replicates, its figures and row kind, and the clustersim version."""

    scenario_sha256: str
    overrides: tuple[str, ...]
    replicates: int
    clustersim_version: str
    figures: tuple[str, ...] = ()
    per_replicate: bool = False

    @property
    def digest(self) -> str:
        """A short hash of all six."""
        text = json.dumps([self.scenario_sha256, list(self.overrides), self.replicates, self.clustersim_version,
                           list(self.figures), self.per_replicate])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def differences(self, row: Row) -> list[str]:
        """How `row`'s sweep differs from this one, in words."""
        found = []
        if row.clustersim_version != self.clustersim_version:
            found.append(f"written by clustersim {row.clustersim_version}, this is {self.clustersim_version}")
        if isinstance(row, SweepRow) and row.replicates != self.replicates:
            found.append(f"{row.replicates} replicates per point, this sweep runs {self.replicates}")
        if row.overrides != list(self.overrides):
            found.append(f"--set {' '.join(row.overrides) or '(none)'}, this sweep has "
                         f"{' '.join(self.overrides) or '(none)'}")
        if row.scenario_sha256 != self.scenario_sha256:
            found.append("the scenario file or a file it reads has changed since")
        if set(row.figures) - set(self.figures):
            found.append(f"other figures ({', '.join(sorted(set(row.figures) - set(self.figures)))} is not a "
                         "--figure of this sweep)")
        return found or ["other figures (--figure), --per-replicate, or rows of an older clustersim format"]


def fingerprint(path: str | Path, scenarios: Sequence[Scenario], sets: Sequence[str], replicates: int,
                figures: Sequence[str] = (), per_replicate: bool = False) -> Fingerprint:
    """The fingerprint of a sweep of the scenario file `path` whose points validated to `scenarios`."""
    digest = hashlib.sha256(Path(path).read_bytes())
    for source in sorted({f for s in scenarios for f in s.input_files()}):
        digest.update(source.encode())
        digest.update(Path(source).read_bytes())
    return Fingerprint(digest.hexdigest(), tuple(sets), replicates, __version__, tuple(figures), per_replicate)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its points and scenarios, figures, SI grid values, columns, and the rows an output
    file already holds."""

    points: list[Variant]
    scenarios: list[Scenario]
    figures: list[str]  # by dotted report path
    si: list[dict[str, float | None]]  # per point: grid key -> SI value (keys numeric at every point)
    header: list[str]
    output: Path | None
    in_file: list[Row]
    fingerprint: Fingerprint

    @property
    def keys(self) -> list[str]:
        """The grid keys, in --grid order."""
        return list(self.points[0].given)

    @property
    def done(self) -> dict[GridKey, list[Row]]:
        """Rows of this grid already in the output file, by grid values."""
        found: dict[GridKey, list[Row]] = {}
        for row in self.in_file:
            found.setdefault(tuple(row.grid.values()), []).append(row)
        return found

    @property
    def todo(self) -> list[int]:
        """Indices of the points still to run."""
        done = self.done
        return [i for i, point in enumerate(self.points) if point_key(point) not in done]


def prepare(path: str | Path, grid: Sequence[str], sets: Sequence[str], output: str | Path | None,
            replicates: int = 1, fresh: bool = False, figures: Sequence[str] | None = None,
            per_replicate: bool = False) -> Sweep:
    """Parse the grid, validate every point and figure (default sweep_paths) and read what the output already
    holds (nothing when `fresh`: the file is then written over). Raises OverrideError (a malformed --grid),
    SweepError (also for an output of another fingerprint), FigureError, OutputError (an output that is an
    input) or InvalidPoints; runs nothing."""
    axes = parse_axes("--grid", grid)
    if not axes:
        raise SweepError(f"a sweep needs at least one --grid {LIST_FORM}")
    points = variants(axes)
    scenarios = load_points(path, sets, points)
    if figures:
        for figure in figures:
            check_figure(figure, scenarios)
        chosen = list(dict.fromkeys(figures))
    else:
        workloads = {w.name: w.kind for s in scenarios for w in s.workloads}
        chosen = sweep_paths(workloads, jobs=any(s.jobs for s in scenarios))
    keys = [axis.field for axis in axes]
    si = grid_si(scenarios, keys)
    header = columns(keys, list(si[0]), chosen, per_replicate)
    target = Path(output) if output else None
    if target is not None:  # before reading it: never an input, even with `fresh`
        check_outputs({"-o": str(target)}, [path, *{f for s in scenarios for f in s.input_files()}])
    of = fingerprint(path, scenarios, sets, replicates, chosen, per_replicate)
    in_file = read_rows(target, keys, header, per_replicate) if target and not fresh else []
    for row in in_file:
        if row.fingerprint != of.digest:
            assert target is not None
            raise SweepError(f"{target}: holds rows of another sweep ({'; '.join(of.differences(row))}); start it "
                             "over with --fresh, or write this sweep to another file")
    return Sweep(points, scenarios, chosen, si, header, target, in_file, of)


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: `points`, one aggregated row per grid point in grid order, and `rows`, what its output
    holds (the points, or with per_replicate one row per replicate, point by point)."""

    sweep: Sweep
    points: list[SweepRow]
    rows: list[Row]

    def records(self) -> list[dict[str, Any]]:
        """The rows as plain dicts under the CSV's columns (numbers as numbers, None where empty)."""
        return [flat(row) for row in self.rows]


def _point_rows(sweep: Sweep, index: int, seeds: Sequence[int],
                values: Sequence[Figures]) -> tuple[SweepRow, list[Row]]:
    """A finished point's aggregated row, and the rows the output gets for it."""
    of = sweep.fingerprint
    common: dict[str, Any] = dict(grid=sweep.points[index].given, grid_si=sweep.si[index], fingerprint=of.digest,
                                  scenario_sha256=of.scenario_sha256, overrides=list(of.overrides),
                                  clustersim_version=of.clustersim_version)
    point = SweepRow(**common, replicates=len(values), figures=point_figures(values, sweep.figures))
    if not of.per_replicate:
        return point, [point]
    return point, [ReplicateRow(**common, replicate=i, seed=seed, figures=figures)
                   for i, (seed, figures) in enumerate(zip(seeds, values, strict=True))]


def _from_file(sweep: Sweep, index: int, rows: list[Row]) -> SweepRow:
    """A point's aggregated row from what the output holds for it (its replicate rows summarised again)."""
    if isinstance(rows[0], SweepRow):
        return rows[0]
    replicates = [r for r in rows if isinstance(r, ReplicateRow)]
    point, _ = _point_rows(sweep, index, [r.seed for r in replicates], [r.figures for r in replicates])
    return point


def run_sweep(sweep: Sweep, workers: int | None = None,
              progress: Progress | None = None, remote: RemoteRunner | None = None) -> SweepResult:
    """Run the points not yet in the output, each with the fingerprint's replicates on the pool (or `remote`:
    Ray), adding each point's rows to the output as it finishes; every point's rows in grid order (earlier
    ones read from the file)."""
    replicates = sweep.fingerprint.replicates
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    done = sweep.done
    finished: dict[int, tuple[SweepRow, list[Row]]] = {}
    for index, point in enumerate(sweep.points):
        if point_key(point) in done:
            rows = done[point_key(point)]
            finished[index] = (_from_file(sweep, index, rows), rows)
    todo = sweep.todo
    in_file = list(sweep.in_file)

    def figures(reports: Sequence[ReportData], seeds: Sequence[int], root: int) -> tuple[Sequence[int], list[Figures]]:
        return seeds, [replicate_figures(report, sweep.figures) for report in reports]

    batches = [(sweep.scenarios[i], replicates) for i in todo]
    for batch, (seeds, values) in run_batches(batches, figures, workers, progress, remote):
        index = todo[batch]
        finished[index] = _point_rows(sweep, index, seeds, values)
        if sweep.output is not None:
            in_file += finished[index][1]
            write_rows(sweep.output, in_file, sweep.header)
    order = range(len(sweep.points))
    return SweepResult(sweep, [finished[i][0] for i in order], [r for i in order for r in finished[i][1]])


def sweep(scenario: str | Path, grid: Mapping[str, Sequence[Any]], sets: Sequence[str] = (), replicates: int = 1,
          figures: Sequence[str] | None = None, per_replicate: bool = False, workers: int | None = 1,
          output: str | Path | None = None, fresh: bool = False) -> SweepResult:
    """Sweep the scenario file at every combination of `grid` (field path -> values, as Python objects:
    `{"cluster.nodes": [4, 8], "x.interval": ["5 min", "30 min"]}`), each point with `replicates` seeds;
    `.records()` of the result gives the rows as plain dicts. Raises as `prepare` does."""
    texts = [f"{field}={','.join(value_text(value) for value in values)}" for field, values in grid.items()]
    return run_sweep(prepare(scenario, texts, sets, output, replicates, fresh, figures, per_replicate), workers)
