"""`clustersim plan-layout` and the planners' MFU estimate: the layout search (simulator/models/workload/
layout_search.py) on a scenario's cluster or on a reference one, priced and reported."""

from __future__ import annotations

import functools
import math
import time

from simulator.models.hardware import Accelerator, Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.layout_search import FULL_EVALUATIONS, search_layouts
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.training_job import TrainingStep
from simulator.plan.economy import gpu_hour_rate
from simulator.plan.network import network as cluster_network
from simulator.plan.training import training_plan
from simulator.report.tools import LayoutReport, LayoutRow
from simulator.scenario.schema import Scenario, TrainingWorkload

MFU_ESTIMATE_MAX_NODES = 2048  # beyond 16,384 GPUs more data parallelism barely changes the best MFU


def estimate_mfu(model_params: float, accelerator: Accelerator, gpus: int) -> float:
    """MFU of the best layout for a Llama-style model of `model_params` on about `gpus` GPUs (the nearest
    power of two, at most 16,384) in 8-GPU nodes on a rail-optimized fat tree, 8,192-token sequences in
    batches of at least 2,048: what the step model predicts for a sensible layout (scaling-law planner).
    Parameters are rounded to two significant figures so that iterating planners hit the cache."""
    nodes = min(MFU_ESTIMATE_MAX_NODES, max(1, 2 ** round(math.log2(max(gpus, 8) / 8))))
    return _best_mfu(float(f"{model_params:.2g}"), accelerator, nodes)


@functools.cache
def _best_mfu(model_params: float, accelerator: Accelerator, nodes: int) -> float:
    nic = accelerator.nic_bandwidth_bytes_per_s or 50e9
    shape = ClusterShape(nodes, 8, accelerator.scale_up_bandwidth_bytes_per_s or 450e9, nic,
                         accelerator.in_switch_reduction)
    tiers = 2 if nodes * 8 <= 2048 else 3
    network = build_network(FatTreeTopology(kind="fat_tree", tiers=tiers, radix=64 if tiers == 3 else 128,
                                            rail_optimized=True), shape)
    base = TrainingStep(llama_style_model(model_params), accelerator, Precision.BF16, Parallelism(), 8192,
                        max(2048, nodes * 8))  # sequences per step (micro_batches x dp x mbs = this, dp = 1 here)
    ranked, _, _ = search_layouts(base, network, nodes * 8, 2 * 2**30, top=1)
    if not ranked:
        raise ValueError(f"no layout of a {model_params / 1e9:.3g}B model fits {nodes * 8} {accelerator.name}")
    return ranked[0].mfu


def plan_layouts(scenario: Scenario, workload_name: str | None, top: int = 10) -> LayoutReport:
    """The fastest `top` layouts of a scenario's training workload over all of its cluster's GPUs."""
    started = time.perf_counter()
    workloads = {w.name: w for w in scenario.workloads if isinstance(w, TrainingWorkload)}
    workload = workloads[workload_name] if workload_name else next(iter(workloads.values()))
    network = cluster_network(scenario.cluster)
    base = training_plan(workload, scenario.cluster).step
    ranked, enumerated, fitting = search_layouts(base, network, network.gpus, workload.memory_reserve_bytes, top)
    rate = gpu_hour_rate(scenario.pricing, scenario.cluster.accelerator)[0]
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
                        gpus=network.gpus, enumerated=enumerated, fitting=fitting,
                        evaluated=min(fitting, FULL_EVALUATIONS), wall_s=time.perf_counter() - started, layouts=rows)
