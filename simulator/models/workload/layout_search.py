"""Layout search: enumerate the parallel layouts of a model on a number of GPUs, drop those that do not fit
in memory, and rank the rest by step time on a network.

The space is pruned in two passes: every candidate that fits is first priced on compute alone (kernel
roofline and pipeline bubble, no network: cheap), and only the most promising ones get the full step
model with collectives on the network graph. Pure: `clustersim plan-layout`, the planners and job pricing
ask it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulator.models.topology.network import Network
from simulator.models.workload.kernels import kernel_time_s
from simulator.models.workload.memory import training_memory
from simulator.models.workload.operators import layer_kernels, output_kernels
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.pipeline import Schedule, StageTimes, bubble_s
from simulator.models.workload.step_time import OperatorStepModel, StepTime
from simulator.models.workload.training_job import TrainingStep

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
                        for schedule, v in _schedules(m.layers, pp):
                            for recompute in (Recompute.SELECTIVE, Recompute.FULL):
                                for zero in (1, 2, 3):
                                    layout = Parallelism(tp=tp, cp=cp, pp=pp, dp=dp, ep=ep, micro_batch_size=mbs,
                                                         schedule=schedule, virtual_stages=v,
                                                         activation_recompute=recompute, zero_stage=zero)
                                    found.append(replace(base, layout=layout, micro_batches=micro_batches))
    return found


def _schedules(layers: int, pp: int) -> list[tuple[Schedule, int]]:
    """Pipeline schedules worth trying on `pp` stages: 1F1B, interleaved with 2 or 4 chunks where every
    chunk gets a layer, and zero bubble (DualPipe needs a run's own kernels; users set it by hand)."""
    if pp == 1:
        return [(Schedule.ONE_F_ONE_B, 1)]
    interleaved = [(Schedule.INTERLEAVED, v) for v in (2, 4) if layers >= pp * v]
    return [(Schedule.ONE_F_ONE_B, 1), *interleaved, (Schedule.ZERO_BUBBLE, 1)]


def _compute_only_s(step: TrainingStep) -> float:
    """Step time from the kernels and the bubble alone: a lower bound used to prune."""
    acc, lay, m = step.accelerator, step.layout, step.model
    layers = max(step.stage_layers)
    moe = min(layers, math.ceil((m.layers - m.dense_layers) / lay.pp)) if m.is_moe else 0
    parts = [(layer_kernels(step, moe=False), layers - moe)] + ([(layer_kernels(step, moe=True), moe)] if moe else [])
    per_micro = sum(n * sum(kernel_time_s(k, acc) for k in (*x.forward, *x.backward, *x.recompute))
                    for x, n in parts) + sum(kernel_time_s(k, acc) for k in output_kernels(step))
    # the schedule's bubble as a fraction of a slot, with backward twice forward and weight gradients half it
    third = np.full(lay.pp, per_micro / 3)
    stage = StageTimes(third, 2 * third, third)
    return per_micro * step.micro_batches + bubble_s(lay.schedule, stage, lay.virtual_stages)


def fits_somehow(base: TrainingStep, gpus: int, reserve_bytes: float) -> bool:
    """Whether any layout of `gpus` GPUs for `base`'s model and batch fits in memory. Only ZeRO-3 with full
    recompute is tried: of layouts alike otherwise, it holds the least of every term (all state sharded, one
    layer's input kept per micro-batch in flight)."""
    frugal = (s for s in _candidates(base, gpus, base.sequences_per_step)
              if s.layout.zero_stage == 3 and s.layout.activation_recompute is Recompute.FULL)
    return any(training_memory(s, reserve_bytes).total_bytes <= s.accelerator.hbm_bytes for s in frugal)


def search_layouts(base: TrainingStep, network: Network, gpus: int, reserve_bytes: float,
                   top: int = 10) -> tuple[list[RankedLayout], int, int]:
    """The `top` fastest layouts that fit, and how many were enumerated and fitted. `base` gives the model,
    accelerator, precision, sequence length and batch (its layout is ignored)."""
    sequences = base.sequences_per_step
    candidates = _candidates(base, gpus, sequences)
    fitting = [(s, training_memory(s, reserve_bytes).total_bytes) for s in candidates]
    fitting = [(s, mem) for s, mem in fitting if mem <= s.accelerator.hbm_bytes]
    bounds: dict[tuple[object, ...], float] = {}  # the bound does not depend on the ZeRO stage: once per three

    def bound(step: TrainingStep) -> float:
        lay = step.layout
        key = (lay.tp, lay.cp, lay.pp, lay.dp, lay.ep, lay.micro_batch_size, lay.schedule, lay.virtual_stages,
               lay.activation_recompute, step.micro_batches)  # every field _candidates varies but zero_stage
        if key not in bounds:
            bounds[key] = _compute_only_s(step)
        return bounds[key]

    shortlist = sorted(fitting, key=lambda item: bound(item[0]))[:FULL_EVALUATIONS]
    model = OperatorStepModel()
    ranked = [RankedLayout(s, model.step_time(s, network), mem) for s, mem in shortlist]
    ranked.sort(key=lambda r: r.time.total_s)
    return ranked[:top], len(candidates), len(fitting)
