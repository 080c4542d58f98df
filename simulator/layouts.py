"""Layout search (`clustersim plan-layout`): enumerate parallel layouts for a model on a cluster, drop those
that do not fit in memory, rank the rest by step time.

The space is pruned in two passes: every candidate that fits is first priced on compute alone (kernel
roofline and pipeline bubble, no network: cheap), and only the most promising ones get the full step
model with collectives on the network graph.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, replace

from simulator.hardware import Accelerator, Precision
from simulator.report.model import LayoutReport, LayoutRow
from simulator.scenario import resolve
from simulator.scenario.resolve import gpu_hour_rate
from simulator.scenario.schema import Scenario, TrainingWorkload
from simulator.topology.build import build_network
from simulator.topology.network import Network
from simulator.topology.shape import ClusterShape
from simulator.topology.specs import FatTreeTopology
from simulator.workload.kernels import kernel_time_s
from simulator.workload.memory import training_memory
from simulator.workload.operators import layer_kernels, output_kernels
from simulator.workload.parallelism import Parallelism, Recompute
from simulator.workload.shapes import llama_style_model
from simulator.workload.step_time import OperatorStepModel, StepTime
from simulator.workload.training_job import TrainingStep

FULL_EVALUATIONS = 48  # candidates priced with the network after the compute-only pass
POWERS_OF_TWO = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class RankedLayout:
    """One layout that fits, with its predicted step."""

    step: TrainingStep
    time: StepTime
    memory_bytes: float

    @property
    def tokens_per_s(self) -> float:
        """Training throughput."""
        return self.step.tokens_per_step / self.time.total_s

    @property
    def mfu(self) -> float:
        """Model FLOPs utilization."""
        peak = self.step.accelerator.peak_flops(self.step.precision) or 0.0
        return self.time.model_flops / self.time.total_s / self.step.layout.world / peak


def _candidates(base: TrainingStep, gpus: int, sequences: int) -> list[TrainingStep]:
    """Every layout of `gpus` GPUs for the model that the batch divides into whole micro-batches."""
    m = base.model
    found = []
    tps = [t for t in POWERS_OF_TWO if m.heads % t == 0 and t <= 8]
    cps = [c for c in POWERS_OF_TWO if base.seq_len % c == 0 and (c == 1 or base.seq_len // c >= 4096) and c <= 16]
    eps = [e for e in POWERS_OF_TWO if m.is_moe and m.experts % e == 0] or [1]
    for tp in tps:
        for cp in cps:
            for pp in (p for p in POWERS_OF_TWO if p <= m.layers):
                if gpus % (tp * cp * pp):
                    continue
                dp = gpus // (tp * cp * pp)
                for mbs in (1, 2, 4):
                    if sequences % (dp * mbs):
                        continue
                    micro_batches = sequences // (dp * mbs)
                    for ep in (e for e in eps if dp % e == 0):
                        for v in (v for v in (1, 2, 4) if v == 1 or (pp > 1 and m.layers % (pp * v) == 0)):
                            for recompute in (Recompute.SELECTIVE, Recompute.FULL):
                                for zero in (1, 3):
                                    layout = Parallelism(tp=tp, cp=cp, pp=pp, dp=dp, ep=ep, micro_batch_size=mbs,
                                                         virtual_stages=v, activation_recompute=recompute,
                                                         zero_stage=zero)
                                    found.append(replace(base, layout=layout, micro_batches=micro_batches))
    return found


def _compute_only_s(step: TrainingStep) -> float:
    """Step time from the kernels and the bubble alone: a lower bound used to prune."""
    acc, lay, m = step.accelerator, step.layout, step.model
    layers = math.ceil(m.layers / lay.pp)
    moe = min(layers, math.ceil((m.layers - m.dense_layers) / lay.pp)) if m.is_moe else 0
    parts = [(layer_kernels(step, moe=False), layers - moe)] + ([(layer_kernels(step, moe=True), moe)] if moe else [])
    per_micro = sum(n * sum(kernel_time_s(k, acc) for k in (*x.forward, *x.backward, *x.recompute))
                    for x, n in parts) + sum(kernel_time_s(k, acc) for k in output_kernels(step))
    return per_micro * (step.micro_batches + (lay.pp - 1) / lay.virtual_stages)


def search_layouts(base: TrainingStep, network: Network, gpus: int, reserve_bytes: float,
                   top: int = 10) -> tuple[list[RankedLayout], int, int]:
    """The `top` fastest layouts that fit, and how many were enumerated and fitted. `base` gives the model,
    accelerator, precision, sequence length and batch (its layout is ignored)."""
    sequences = base.sequences_per_step
    candidates = _candidates(base, gpus, sequences)
    fitting = [(s, training_memory(s, reserve_bytes).total_bytes) for s in candidates]
    fitting = [(s, mem) for s, mem in fitting if mem <= s.accelerator.hbm_bytes]
    shortlist = sorted(fitting, key=lambda item: _compute_only_s(item[0]))[:FULL_EVALUATIONS]
    model = OperatorStepModel()
    ranked = [RankedLayout(s, model.step_time(s, network), mem) for s, mem in shortlist]
    ranked.sort(key=lambda r: r.time.total_s)
    return ranked[:top], len(candidates), len(fitting)


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
    network = resolve.network(scenario.cluster)
    base = resolve.training_plan(workload, scenario.cluster).step
    ranked, enumerated, fitting = search_layouts(base, network, network.gpus, workload.memory_reserve_bytes, top)
    rate = gpu_hour_rate(scenario.pricing, scenario.cluster.accelerator)[0]
    rows = []
    for rank, r in enumerate(ranked, start=1):
        lay = r.step.layout
        seconds = workload.tokens / r.tokens_per_s
        rows.append(LayoutRow(
            rank=rank, tp=lay.tp, cp=lay.cp, pp=lay.pp, virtual_stages=lay.virtual_stages, dp=lay.dp, ep=lay.ep,
            micro_batch_size=lay.micro_batch_size, activation_recompute=lay.activation_recompute.value,
            zero_stage=lay.zero_stage, step_time_s=r.time.total_s, tokens_per_s=r.tokens_per_s, mfu=r.mfu,
            tflops_per_gpu=r.time.model_flops / r.time.total_s / lay.world / 1e12,
            memory_per_gpu_bytes=r.memory_bytes, days=seconds / 86400,
            cost_usd=seconds / 3600 * lay.world * rate,
        ))
    return LayoutReport(scenario=scenario.name, workload=workload.name, model=workload.model.name,
                        gpus=network.gpus, enumerated=enumerated, fitting=fitting,
                        evaluated=min(fitting, FULL_EVALUATIONS), wall_s=time.perf_counter() - started, layouts=rows)
