"""The headline figures of a run report, by dotted key (`workloads.pretrain.mfu`), and the number at a key: one
definition for `clustersim compare` (COMPARED), `run --replicates` (REPLICATED) and `clustersim sweep` (SWEPT: the
replicates' figures and what a sweep compares points by: MFU, step time, tokens/s, TTFT p50, throughput)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from simulator.report.model import Report


@dataclass(frozen=True)
class Headline:
    """Which figures a tool puts side by side, by part of the report (names under cluster., a workload of each
    kind, jobs. and each tenant)."""

    cluster: tuple[str, ...]
    training: tuple[str, ...]
    inference: tuple[str, ...]
    jobs: tuple[str, ...]
    tenant: tuple[str, ...] = ()

    def keys(self, workloads: Mapping[str, str], jobs: bool, tenants: Iterable[str] = ()) -> list[str]:
        """Dotted keys: simulated time, the cluster, each workload's figures (workloads as name -> kind), and,
        where the scenario has batch job streams, the jobs and each of `tenants`."""
        keys = ["simulated_s", *(f"cluster.{k}" for k in self.cluster)]
        keys += [f"workloads.{name}.{k}" for name, kind in workloads.items()
                 for k in (self.inference if kind == "inference" else self.training)]
        if jobs:
            keys += [f"jobs.{k}" for k in self.jobs]
            keys += [f"tenants.{name}.{k}" for name in tenants for k in self.tenant]
        return keys


COMPARED = Headline(
    cluster=("utilization", "cost_usd", "energy_kwh"),
    training=("wall_clock_s", "step_time_s", "contention_factor", "tokens_per_s", "mfu", "ettr", "steps", "cost_usd"),
    inference=("ttft_s.p50", "ttft_s.p99", "tpot_s.p50", "tpot_s.p99", "e2e_s.p50", "slo_attainment",
               "throughput_tokens_per_s", "requests.completed", "cost_usd", "usd_per_million_output_tokens",
               "contention_factor"),
    jobs=("mean_queued_s", "p99_queued_s", "mean_slowdown", "contention_factor", "preemptions", "gpu_hours"),
    tenant=("gpu_hours", "cost_usd", "batch_mean_queued_s"),
)
REPLICATED = Headline(
    cluster=("utilization", "cost_usd"),
    training=("wall_clock_s", "ettr", "interruptions", "lost_gpu_hours", "cost_usd"),
    inference=("ttft_s.p99", "tpot_s.p99", "slo_attainment", "requests.failed", "cost_usd"),
    jobs=("mean_queued_s", "p99_queued_s", "mean_slowdown", "preemptions"),
)

SWEPT = replace(
    REPLICATED,
    training=(*REPLICATED.training, "mfu", "step_time_s", "tokens_per_s"),
    inference=("ttft_s.p50", *REPLICATED.inference[:1], "throughput_tokens_per_s", *REPLICATED.inference[1:]),
)


def comparison_keys(report: Report) -> list[str]:
    """The dotted figures comparisons put side by side (COMPARED), for the workloads and tenants of `report`, and
    the link load of each network tier the training traffic used."""
    kinds = {name: workload.kind for name, workload in report.workloads.items()}
    keys = COMPARED.keys(kinds, report.jobs is not None, report.tenants)
    tiers = [f"cluster.link_utilization.{tier}" for tier, share in report.cluster.link_utilization.items() if share > 0]
    return keys[:1 + len(COMPARED.cluster)] + tiers + keys[1 + len(COMPARED.cluster):]


def headline_paths(workloads: Mapping[str, str], jobs: bool = False) -> list[str]:
    """The figures the replicates table and sweep rows show (REPLICATED), for workloads given as name -> kind
    (and the batch jobs' queueing where the scenario has job streams)."""
    return REPLICATED.keys(workloads, jobs)


def sweep_paths(workloads: Mapping[str, str], jobs: bool = False) -> list[str]:
    """The figures of a sweep's rows without --figure (SWEPT), for workloads given as name -> kind."""
    return SWEPT.keys(workloads, jobs)


def figure_value(report: Report, key: str) -> float | None:
    """The number at a dotted key of `report` (names of workloads and tenants are keys of their maps); None
    where the report has no such figure or it is not a number."""
    value: object = report
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
