"""The Python API (`import simulator as cs`): load, simulate, replicate and compare scenarios from a notebook or
script with exactly the command line's checks. Every function raises one ScenarioError that lists every problem,
located as the CLI prints them, and returns the same report models the CLI writes as JSON."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simulator.experiments.capacity import Rule
from simulator.experiments.capacity import plan_capacity as run_capacity
from simulator.experiments.compare import baseline_label
from simulator.experiments.compare import compare as compare_runs
from simulator.experiments.montecarlo import run_replicates
from simulator.experiments.sweep import InvalidPoints, SweepResult
from simulator.experiments.sweep import sweep as run_grid
from simulator.plan.load import check_scenario, load_scenario, load_text, validate_data
from simulator.report.experiments import CapacityPlan, Comparison, ReplicatesReport
from simulator.report.model import Report
from simulator.run import simulate as run_scenario
from simulator.scenario.loader import ScenarioError, ScenarioIssue
from simulator.scenario.overrides import Override, OverrideError, given, parse_sets
from simulator.scenario.schema import Scenario
from simulator.scenario.yaml_lines import LocatedData
from simulator.units import Dimension, parse_quantity

Source = Scenario | str | os.PathLike[str] | Mapping[str, Any]
"""A scenario: a Scenario, a file path, YAML text (a string with a line break or starting with `{`), or the
mapping a YAML file would hold."""
Overrides = Mapping[str, Any] | Sequence[str] | None
"""`{"cluster.nodes": 8}` (values as Python objects) or `["cluster.nodes=8"]` (values read as YAML, like --set)."""

TEXT_NAME = "<string>"  # where problems in YAML text are located: `<string>:LINE: field: problem`
DATA_NAME = "<dict>"  # where problems in a mapping are located: `<dict>: field: problem`


def load(source: Source, overrides: Overrides = None, *, base_dir: str | os.PathLike[str] | None = None) -> Scenario:
    """The validated, checked scenario: what `clustersim validate` accepts, with `overrides` applied as `--set`
    would. Relative trace paths in text or a mapping are taken from `base_dir` (default: the working
    directory). Raises ScenarioError listing every problem."""
    changes = _overrides(overrides)
    folder = str(base_dir) if base_dir is not None else None
    if isinstance(source, Scenario):
        if not changes:
            return check_scenario(source)
        source = source.model_dump(by_alias=True, mode="json")
    if isinstance(source, Mapping):
        import copy

        return validate_data(LocatedData(copy.deepcopy(dict(source))), DATA_NAME, changes, folder or ".")
    if isinstance(source, str) and _is_text(source):
        return load_text(source, TEXT_NAME, changes, folder or ".")
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"a scenario is a path, YAML text, a mapping or a Scenario, not {type(source).__name__}")
    return load_scenario(Path(source), (), changes)


def simulate(source: Source, overrides: Overrides = None, *, seed: int | None = None) -> Report:
    """Run one scenario (`clustersim run`), optionally under another root `seed`, and return its report."""
    return run_scenario(_seeded(load(source, overrides), seed))


def replicates(source: Source, n: int, overrides: Overrides = None, *, workers: int | None = 1,
               seed: int | None = None) -> ReplicatesReport:
    """`clustersim run --replicates n`: every figure's mean, spread and 95 % interval over `n` seeds derived from
    the scenario's (or `seed`); `workers` processes (None: every core; 1, the default, runs in this process)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return run_replicates(_seeded(load(source, overrides), seed), n, workers)


def compare(runs: Mapping[str, Source] | Sequence[Source], overrides: Overrides = None, *,
            baseline: str | None = None) -> Comparison:
    """`clustersim compare`: simulate each run (labelled by the mapping's keys, else by file stem or scenario
    name) with `overrides` applied to all, side by side with ratios to the `baseline` run (default: the first;
    an unknown label raises UnknownBaseline, a ValueError, before anything runs)."""
    labelled = runs.items() if isinstance(runs, Mapping) else [(_label(s, i), s) for i, s in enumerate(runs)]
    loaded = [(label, load(s, overrides)) for label, s in labelled]
    if not loaded:
        raise ValueError("compare needs at least one run")
    baseline_label([label for label, _ in loaded], baseline)
    return compare_runs(loaded, baseline)


def sweep(scenario: str | os.PathLike[str], grid: Mapping[str, Sequence[Any]], overrides: Overrides = None, *,
          replicates: int = 1, figures: Sequence[str] | None = None, per_replicate: bool = False,
          workers: int | None = 1, output: str | os.PathLike[str] | None = None, fresh: bool = False) -> SweepResult:
    """`clustersim sweep`: the scenario file at every combination of `grid` ({field path: [values]}, values as
    Python objects), each point with `replicates` seeds, under `overrides`; `figures` are report paths (default:
    the sweep's headline figures). `output` is written and resumed as `-o` is. `.records()` of the result gives
    its rows as plain dicts (`pandas.DataFrame(result.records())`). A sweep is of a file: its rows carry the
    file's hash, so that a resumed sweep knows its own rows."""
    if isinstance(scenario, Scenario | Mapping) or (isinstance(scenario, str) and _is_text(scenario)):
        raise TypeError("sweep takes a scenario file's path (its rows carry the file's hash); write the scenario "
                        "to a file, or use compare() for a few variants of a Scenario")
    sets = [f"{o.field}={o.text}" for o in _overrides(overrides)]
    try:
        return run_grid(Path(scenario), grid, sets, replicates, figures, per_replicate, workers,
                        None if output is None else Path(output), fresh)
    except OverrideError as err:
        raise ScenarioError([ScenarioIssue(err.source, err.field, err.message)]) from None
    except InvalidPoints as err:
        raise ScenarioError([issue for _, problem in err.failures for issue in problem.issues]) from None


def plan_capacity(source: Source, mixes: Mapping[str, Overrides], deadline: float | str, overrides: Overrides = None,
                  *, probability: float = 0.9, replicates: int = 40, rule: Rule = "wilson_low",
                  workers: int | None = 1) -> CapacityPlan:
    """`clustersim plan-capacity`: every mix ({label: overrides}, applied after `overrides`) run `replicates` times
    to the `deadline` (seconds, or a duration such as "9 h"), and the cheapest whose chance of meeting it reaches
    `probability` under `rule` (docs/fleets.md, "The planner")."""
    deadline_s = parse_quantity(deadline, Dimension.DURATION) if isinstance(deadline, str) else float(deadline)
    base = load(source, overrides)
    runs = [(label, _overrides(mix), load(base, mix)) for label, mix in mixes.items()]
    return run_capacity(runs, deadline_s, probability, replicates, rule, workers)


def _is_text(source: str) -> bool:
    """Whether a string source is YAML text rather than a path."""
    return "\n" in source or source.lstrip().startswith("{")


def _overrides(overrides: Overrides) -> list[Override]:
    """Overrides as the loader takes them; their malformed paths or values as a ScenarioError."""
    if not overrides:
        return []
    if isinstance(overrides, str):
        raise TypeError("overrides: give a mapping {field.path: value} or a list of 'field.path=value' strings")
    try:
        if isinstance(overrides, Mapping):
            return [given(f"overrides[{key!r}]", key, value) for key, value in overrides.items()]
        return parse_sets(overrides, "overrides")
    except OverrideError as err:
        raise ScenarioError([ScenarioIssue(err.source, err.field, err.message)]) from None


def _seeded(scenario: Scenario, seed: int | None) -> Scenario:
    return scenario if seed is None else load(scenario, {"seed": seed})


def _label(source: Source, index: int) -> str:
    """A run's label: the file's stem, the scenario's name, or its position."""
    if isinstance(source, Scenario):
        return source.name
    if isinstance(source, Mapping):
        return str(source.get("name", f"run {index + 1}"))
    if isinstance(source, str) and _is_text(source):
        return f"run {index + 1}"
    return Path(source).stem
