"""Run several scenarios (or variants of one) and put their reports side by side with ratios to a baseline run
(the first, or one named)."""

from __future__ import annotations

from simulator.report.experiments import ComparedRun, Comparison
from simulator.report.figures import comparison_keys, figure_value
from simulator.report.model import Report
from simulator.run import simulate
from simulator.scenario.schema import Scenario


class UnknownBaseline(ValueError):
    """The baseline named is not one of the runs' labels."""


def headline(report: Report) -> dict[str, float]:
    """The figures a comparison ratios (report.figures.comparison_keys) that the report has."""
    values = {key: figure_value(report, key) for key in comparison_keys(report)}
    return {key: value for key, value in values.items() if value is not None}


def baseline_label(labels: list[str], name: str | None) -> str:
    """The label of the baseline run: `name`, or the first run's when None; UnknownBaseline (listing the labels)
    where no run has that label."""
    if name is None:
        return labels[0]
    if name not in labels:
        raise UnknownBaseline(f"--baseline: no run named {name!r}; runs: {', '.join(labels)}")
    return name


def compare(runs: list[tuple[str, Scenario]], baseline: str | None = None) -> Comparison:
    """Simulate each (label, scenario) and divide every headline figure by the baseline run's (`baseline`: its
    label; default the first run; checked before anything is simulated)."""
    base_label = baseline_label([label for label, _ in runs], baseline)
    reports = [(label, simulate(scenario)) for label, scenario in runs]
    base = headline(next(report for label, report in reports if label == base_label))
    compared = []
    for label, report in reports:
        figures = headline(report)
        ratios = {k: v / base[k] for k, v in figures.items() if k in base and base[k] != 0}
        compared.append(ComparedRun(label=label, report=report, ratios=ratios))
    return Comparison(runs=compared, baseline=base_label)
