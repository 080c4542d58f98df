"""The cheapest capacity mix that meets a deadline with a given probability (`clustersim plan-capacity`).

Each mix is a set of overrides of one scenario (pools' sizes, rental kinds, spot settings). Every mix runs the
same replicate seeds as `run --replicates` (simulator/experiments/montecarlo.py), each run stopped at the
deadline (or the scenario's own horizon, if earlier). A replicate meets the deadline when every training workload
has finished by then. Over n replicates with k met, P(deadline met) is estimated as k / n with the Wilson score
95 % interval,

    (p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n),  z = 1.96,

and a mix meets the target when the chosen estimate (rule `wilson_low`, the interval's lower end, or `point`,
k / n) reaches it; the cheapest mix that does (by the mean of the cluster's cost, report cluster.cost_usd) is
named. With all n met the lower end is n / (n + z^2), so under rule wilson_low a target p needs
n >= z^2 p / (1 - p) replicates at least (35 for 0.9, 75 for 0.95)."""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Sequence
from typing import Literal

from simulator.experiments.montecarlo import Progress, ReportData, run_batches, summarize
from simulator.report.experiments import CapacityMix, CapacityPlan
from simulator.scenario.overrides import Override, parse_sets
from simulator.scenario.schema import Scenario

Z95 = 1.959963984540054  # the standard normal's 0.975 quantile
Rule = Literal["wilson_low", "point"]
_NEXT_FIELD = re.compile(r"\s+(?=[A-Za-z_][\w.\-]*=)")  # whitespace before the next FIELD.PATH=
AS_IS = "as is"
METHOD = ("replicate seeds as run --replicates; each run stopped at the deadline (or an earlier scenario horizon); "
          "a replicate meets the deadline when every training workload finished by it; P = met / replicates with "
          "the Wilson score 95 % interval (z = 1.96); cost: mean, std and range of cluster.cost_usd")


def mix_label(text: str) -> tuple[str, str]:
    """(label, overrides) of a --mix: `LABEL: overrides` names it (a label holds no `=`), else the overrides as
    written label it ('as is' for none)."""
    head, colon, rest = text.partition(":")
    if colon and "=" not in head and head.strip():
        return head.strip(), rest.strip()
    return text.strip() or AS_IS, text.strip()


def mix_overrides(number: int, text: str) -> list[Override]:
    """The overrides of the `number`-th --mix (after its label, if any): FIELD.PATH=VALUE items separated by
    whitespace (a value may hold spaces: an item ends where the next FIELD.PATH= begins), located as `--mix N:K`;
    raises OverrideError."""
    items = [item for item in _NEXT_FIELD.split(mix_label(text)[1]) if item]
    return parse_sets(items, f"--mix {number}")


def wilson(met: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `met` / `n` (n > 0)."""
    if not 0 <= met <= n or n < 1:
        raise ValueError(f"need 0 <= met <= n and n >= 1, got met={met}, n={n}")
    p = met / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    low, high = (centre - half) / scale, (centre + half) / scale
    return max(0.0, min(p, low)), min(1.0, max(p, high))  # it holds p, within 0..1: only rounding strays


def deadline_met(report: ReportData, deadline_s: float) -> bool:
    """Whether every training workload of a replicate (report JSON) finished by `deadline_s`."""
    training = [w for w in report["workloads"].values() if w.get("kind") == "training"]
    return all(w.get("finished_s") is not None and w["finished_s"] <= deadline_s for w in training)


def _outcome(deadline_s: float, reports: Sequence[ReportData], seeds: Sequence[int],
             root_seed: int) -> tuple[int, list[float], list[float]]:
    """(replicates met, cost of each, finish of each that met) of one mix's reports."""
    met = [r for r in reports if deadline_met(r, deadline_s)]
    finishes = [max((w["finished_s"] for w in r["workloads"].values() if w.get("kind") == "training"),
                    default=0.0) for r in met]
    return len(met), [float(r["cluster"]["cost_usd"]) for r in reports], finishes


def _stopped(scenario: Scenario, deadline_s: float) -> Scenario:
    """The scenario run no further than the deadline."""
    horizon = deadline_s if scenario.horizon_s is None else min(scenario.horizon_s, deadline_s)
    return scenario.model_copy(update={"horizon_s": horizon})


def plan_capacity(mixes: Sequence[tuple[str, Sequence[Override], Scenario]], deadline_s: float,
                  probability: float, replicates: int, rule: Rule = "wilson_low", workers: int | None = None,
                  progress: Progress | None = None) -> CapacityPlan:
    """Run every (label, overrides, scenario) mix (labels unique) `replicates` times to the deadline and name
    the cheapest that meets it with `probability` under `rule` (see the module doc)."""
    if not mixes or len({label for label, _, _ in mixes}) < len(mixes):
        raise ValueError("plan_capacity needs at least one mix, each with its own label")
    if replicates < 1 or deadline_s <= 0 or not 0 < probability <= 1:
        raise ValueError(f"need replicates >= 1, a positive deadline and 0 < probability <= 1 (got {replicates}, "
                         f"{deadline_s} s, {probability})")
    started = time.perf_counter()
    batches = [(_stopped(scenario, deadline_s), replicates) for _, _, scenario in mixes]
    outcomes = dict(run_batches(batches, functools.partial(_outcome, deadline_s), workers, progress))
    rows = []
    for index, (label, overrides, _) in enumerate(mixes):
        met, costs, finishes = outcomes[index]
        low, high = wilson(met, replicates)
        estimate = low if rule == "wilson_low" else met / replicates
        rows.append(CapacityMix(
            label=label, overrides=[str(o) for o in overrides], replicates=replicates, met=met,
            probability=met / replicates, wilson_low=low, wilson_high=high, meets=estimate >= probability,
            cost_usd=summarize(costs), finished_s=summarize(finishes) if finishes else None,
        ))
    passing = [row for row in rows if row.meets]
    cheapest = min(passing, key=lambda row: row.cost_usd.mean).label if passing else None
    return CapacityPlan(
        scenario=mixes[0][2].name, deadline_s=deadline_s, probability=probability, rule=rule,
        best_reachable=wilson(replicates, replicates)[0], mixes=rows, cheapest=cheapest, method=METHOD,
        wall_s=time.perf_counter() - started,
    )
