"""Run several scenarios (or variants of one) and put their reports side by side with ratios to the first."""

from __future__ import annotations

from simulator.report.model import ComparedRun, Comparison, Report, dotted_value, headline_figures
from simulator.run import simulate
from simulator.scenario.schema import Scenario

CLUSTER_FIGURES = ("utilization", "cost_usd", "energy_kwh")


def headline(report: Report) -> dict[str, float]:
    """The figures a comparison ratios: simulated time, cluster utilization and cost, per-workload figures."""
    figures = {"simulated_s": report.simulated_s}
    figures |= {f"cluster.{k}": float(getattr(report.cluster, k)) for k in CLUSTER_FIGURES}
    for name, workload in report.workloads.items():
        for key in headline_figures(workload):
            value = dotted_value(workload, key)
            if isinstance(value, int | float):
                figures[f"workloads.{name}.{key}"] = float(value)
    return figures


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
