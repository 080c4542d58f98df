"""Render `clustersim plan-capacity` for people: one row per capacity mix (probability of meeting the deadline
with its Wilson interval, cost, finish time), and the cheapest mix that meets the target."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from simulator.report.experiments import CapacityPlan
from simulator.report.render import usd_text
from simulator.report.terminal import fitted
from simulator.report.text import duration_text


def capacity_table(plan: CapacityPlan) -> Group:
    """The mixes side by side and the verdict."""
    rule = "the Wilson 95 % lower bound" if plan.rule == "wilson_low" else "the point estimate (met / replicates)"
    table = Table(title=f"{plan.scenario}: P(every training workload done by {duration_text(plan.deadline_s)}) "
                        f">= {plan.probability:g}, by {rule}")
    for column in ("mix", "met", "P", "Wilson 95 %", "meets", "cost mean", "cost range", "done by (mean)"):
        table.add_column(column, justify="left" if column in {"mix", "meets"} else "right")
    for mix in plan.mixes:
        cost = mix.cost_usd
        table.add_row(mix.label + ("  <- cheapest" if mix.label == plan.cheapest else ""),
                      f"{mix.met}/{mix.replicates}", f"{mix.probability:.2f}",
                      f"{mix.wilson_low:.2f}-{mix.wilson_high:.2f}", "yes" if mix.meets else "no",
                      usd_text(cost.mean), f"{usd_text(cost.min)}-{usd_text(cost.max)}",
                      duration_text(mix.finished_s.mean) if mix.finished_s is not None else "-")
    verdict = (f"cheapest mix that meets it: {plan.cheapest}" if plan.cheapest is not None
               else "no mix meets it")
    lines = [verdict, "cost: cluster.cost_usd of each run, stopped when its work is done or at the deadline"]
    if plan.rule == "wilson_low" and plan.best_reachable < plan.probability:
        lines.append(f"with {plan.mixes[0].replicates} replicates the Wilson lower bound reaches at most "
                     f"{plan.best_reachable:.3f}: more replicates are needed to show {plan.probability:g}")
    return Group(fitted(table), *lines)
