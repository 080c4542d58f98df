"""Loading a scenario: read and validate the file, YAML text or data (scenario/loader.py), then check what needs
a plan to know (layouts against the cluster, memory fit, prices, trace jobs), every problem located at its line
(or, for data built in Python, at its field path)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simulator.plan.checks import scenario_problems
from simulator.scenario.loader import ScenarioError, ScenarioIssue, dotted, read_data, read_scenario, read_text
from simulator.scenario.overrides import Override
from simulator.scenario.schema import Scenario
from simulator.scenario.yaml_lines import LocatedData


def load_scenario(path: str | Path, overrides: Sequence[str] = (), variant: Sequence[Override] = ()) -> Scenario:
    """A scenario file with its `--set` overrides and a --vary/--grid variant applied, validated and checked;
    ScenarioError with every located problem when it cannot run."""
    return read_scenario(path, scenario_problems, overrides, variant)


def load_text(text: str, name: str, overrides: Sequence[Override] = (), base_dir: str | None = None) -> Scenario:
    """Scenario YAML text, located as the file `name` would be, with `overrides`, validated and checked."""
    return read_text(text, name, scenario_problems, overrides, base_dir)


def validate_data(located: LocatedData, name: str, overrides: Sequence[Override] = (),
                  base_dir: str | None = None) -> Scenario:
    """Already parsed scenario data (with its lines, if any), validated and checked as a file named `name`
    would be."""
    return read_data(located, name, scenario_problems, overrides, base_dir)


def check_scenario(scenario: Scenario, name: str = "<scenario>") -> Scenario:
    """`scenario` itself where it passes the cross-field checks the loader runs (a Scenario built with
    `Scenario.model_validate` has passed only the schema); ScenarioError with each problem at its field."""
    problems = scenario_problems(scenario)
    if problems:
        data = scenario.model_dump(by_alias=True)
        raise ScenarioError([ScenarioIssue(name, dotted(p.path, data), p.message) for p in problems])
    return scenario

