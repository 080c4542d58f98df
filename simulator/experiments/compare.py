"""Run several scenarios (or variants of one) and put their reports side by side with ratios to the first."""

from __future__ import annotations

from simulator.report.experiments import ComparedRun, Comparison
from simulator.report.figures import comparison_keys, figure_value
from simulator.report.model import Report
from simulator.run import simulate
from simulator.scenario.schema import Scenario


def headline(report: Report) -> dict[str, float]:
    """The figures a comparison ratios (report.figures.comparison_keys) that the report has."""
    values = {key: figure_value(report, key) for key in comparison_keys(report)}
    return {key: value for key, value in values.items() if value is not None}


def compare(runs: list[tuple[str, Scenario]]) -> Comparison:
    """Simulate each (label, scenario) and divide every headline figure by the first run's."""
    reports = [(label, simulate(scenario)) for label, scenario in runs]
    base = headline(reports[0][1])
    compared = []
    for label, report in reports:
        figures = headline(report)
        ratios = {k: v / base[k] for k, v in figures.items() if k in base and base[k] != 0}
        compared.append(ComparedRun(label=label, report=report, ratios=ratios))
    return Comparison(runs=compared)
