"""`clustersim plan-layout`: the layout search (simulator/models/workload/layout_search.py) on a scenario's
cluster, priced and reported (apart from the planners' MFU estimate in layouts.py, which needs no scenario)."""

from __future__ import annotations

import time

from simulator.models.workload.layout_search import FULL_EVALUATIONS, search_layouts
from simulator.plan.economy import pool_gpu_hour_rate
from simulator.plan.network import network as cluster_network
from simulator.plan.training import training_plan
from simulator.report.tools import LayoutReport, LayoutRow
from simulator.scenario.schema import Scenario, TrainingWorkload


def plan_layouts(scenario: Scenario, workload_name: str | None, top: int = 10) -> LayoutReport:
    """The fastest `top` layouts of a scenario's training workload over all of its cluster's GPUs (with pools: over
    the GPUs of its pool, the first it names, or the cluster's first, at that pool's chip and price)."""
    started = time.perf_counter()
    workloads = {w.name: w for w in scenario.workloads if isinstance(w, TrainingWorkload)}
    workload = workloads[workload_name] if workload_name else next(iter(workloads.values()))
    cluster = scenario.cluster
    pool = cluster.pool_specs[cluster.pool_index((workload.pool_names or (cluster.pool_specs[0].name,))[0])]
    on_pool = cluster.view(pool.name)
    network = cluster_network(on_pool)
    gpus = network.gpus if cluster.pools is None else pool.gpus
    base = training_plan(workload, on_pool).step
    ranked, enumerated, fitting = search_layouts(base, network, gpus, workload.memory_reserve_bytes, top,
                                                 cluster.first_gpu(pool.name))
    rate = pool_gpu_hour_rate(scenario.pricing, pool)[0]
    rows = []
    for rank, r in enumerate(ranked, start=1):
        lay = r.step.layout
        seconds = workload.tokens / r.tokens_per_s
        rows.append(LayoutRow(
            rank=rank, tp=lay.tp, cp=lay.cp, pp=lay.pp, schedule=lay.schedule.value, virtual_stages=lay.virtual_stages,
            dp=lay.dp, ep=lay.ep,
            micro_batch_size=lay.micro_batch_size, activation_recompute=lay.activation_recompute.value,
            zero_stage=lay.zero_stage, step_time_s=r.time.total_s, tokens_per_s=r.tokens_per_s, mfu=r.mfu,
            tflops_per_gpu=r.time.model_flops / r.time.total_s / lay.world / 1e12,
            memory_per_gpu_bytes=r.memory_bytes, days=seconds / 86400,
            cost_usd=seconds / 3600 * lay.world * rate,
        ))
    return LayoutReport(scenario=scenario.name, workload=workload.name, model=workload.model.name,
                        gpus=gpus, enumerated=enumerated, fitting=fitting,
                        evaluated=min(fitting, FULL_EVALUATIONS), wall_s=time.perf_counter() - started, layouts=rows)
