"""Loading a scenario: read and validate the file (scenario/loader.py), then check what needs a plan to know
(layouts against the cluster, memory fit, prices, trace jobs), every problem located at its line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simulator.plan.checks import scenario_problems
from simulator.scenario.loader import read_scenario, validate_located
from simulator.scenario.overrides import Override
from simulator.scenario.schema import Scenario
from simulator.scenario.yaml_lines import LocatedData


def load_scenario(path: str | Path, overrides: Sequence[str] = (), variant: Sequence[Override] = ()) -> Scenario:
    """A scenario file with its `--set` overrides and a --vary/--grid variant applied, validated and checked;
    ScenarioError with every located problem when it cannot run."""
    return read_scenario(path, scenario_problems, overrides, variant)


def validate_data(located: LocatedData, name: str) -> Scenario:
    """Already parsed scenario data (with its lines), validated and checked as a file named `name` would be."""
    return validate_located(located, name, scenario_problems)
