"""LANL failure records (Schroeder & Gibson, DSN 2006) as a check on the failure model: load one system,
fit it (failures per node-year, Weibull shape of per-node times between failures, lognormal repairs),
simulate the fitted process on the same nodes for the same span, and compare distributions (KS)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simpy

from simulator.engine.cluster import Cluster
from simulator.engine.failures import failure_process
from simulator.models.fitting import fit_lognormal, fit_weibull, ks_critical, ks_two_sample
from simulator.models.reliability import Component, Distribution, FailureModel, Repair, Scope


@dataclass(frozen=True)
class SystemRecords:
    """One system's failures: node count, span, per-node times between failures and repair times (s)."""

    nodes: int
    span_s: float
    failures: int
    between_s: np.ndarray
    repair_s: np.ndarray


def _between(starts: dict[int, list[float]]) -> np.ndarray:
    gaps = [b - a for times in starts.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    return np.array([g for g in gaps if g > 0], dtype=np.float64)


def load_system(path: Path, system: str) -> SystemRecords:
    """The records of `system` from the LANL CSV."""
    starts: dict[int, list[float]] = defaultdict(list)
    repairs, nodes = [], 0
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["System"] != system:
                continue
            nodes = int(row["nodes"])
            when = dt.datetime.strptime(row["Prob Started"], "%m/%d/%Y %H:%M").timestamp()
            starts[int(row["nodenumz"])].append(when)
            if row["Down Time"] and float(row["Down Time"]) > 0:
                repairs.append(float(row["Down Time"]) * 60.0)
    every = [t for times in starts.values() for t in times]
    return SystemRecords(nodes, max(every) - min(every), len(every), _between(starts), np.array(repairs))


def fitted_component(records: SystemRecords) -> Component:
    """A node failure process fitted to the records: mean time between failures from the failure rate,
    Weibull shape from the per-node gaps, lognormal repairs."""
    shape, _ = fit_weibull(records.between_s)
    median, sigma = fit_lognormal(records.repair_s)
    return Component(name="node", scope=Scope.NODE, mtbf_s=records.span_s * records.nodes / records.failures,
                     distribution=Distribution.WEIBULL, weibull_shape=shape,
                     repair=Repair(median_s=median, sigma=sigma))


def compare_with_simulation(records: SystemRecords, seed: int) -> dict[str, float]:
    """Fit, simulate the fit on the same nodes and span, and compare."""
    component = fitted_component(records)
    env = simpy.Environment()
    cluster = Cluster(env, records.nodes, 1)
    env.process(failure_process(env, cluster, component, FailureModel(components=[component]),
                                np.random.default_rng(seed)))
    env.run(until=records.span_s)
    starts: dict[int, list[float]] = defaultdict(list)
    for when, node, _, _ in cluster.failure_log:
        starts[node].append(when)
    between = _between(starts)
    repairs = np.array([repair for _, _, repair, _ in cluster.failure_log])
    return {
        "nodes": records.nodes,
        "span_days": records.span_s / 86400,
        "failures_per_node_year_recorded": records.failures / records.nodes / (records.span_s / 31_557_600),
        "failures_per_node_year_simulated": len(cluster.failure_log) / records.nodes / (records.span_s / 31_557_600),
        "weibull_shape_fitted": component.weibull_shape,
        "repair_median_min": component.repair.median_s / 60,
        "repair_sigma": component.repair.sigma,
        "ks_between_failures": ks_two_sample(records.between_s, between),
        "ks_between_failures_critical": ks_critical(records.between_s.size, between.size),
        "ks_repair": ks_two_sample(records.repair_s, repairs),
        "ks_repair_critical": ks_critical(records.repair_s.size, repairs.size),
    }
