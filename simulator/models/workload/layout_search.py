"""Layout search: enumerate the parallel layouts of a model on a number of GPUs, drop those that do not fit
in memory, and rank the rest by step time on a network.

The space is pruned in two passes: every candidate that fits is first priced on compute alone (kernel
roofline and pipeline bubble, no network: cheap), and only the most promising ones get the full step
model with collectives on the network graph. Pure: `clustersim plan-layout`, the planners and job pricing
ask it.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from simulator.models.hardware import Precision
from simulator.models.topology.network import Network
from simulator.models.workload.kernels import kernel_time_s
from simulator.models.workload.memory import memory_floor_bytes, training_memory, zero_stage_memories
from simulator.models.workload.operators import layer_kernels, output_kernels
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.pipeline import Schedule, StageTimes, bubble_s, stage_layers
from simulator.models.workload.step_time import OperatorStepModel, StepTime
from simulator.models.workload.training_job import TrainingStep

FULL_EVALUATIONS = 48  # candidates priced with the network after the compute-only pass
POWERS_OF_TWO = (1, 2, 4, 8, 16, 32, 64, 128)
ZERO_STAGES = (1, 2, 3)


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


class _Shape(NamedTuple):
    """A candidate layout but its ZeRO stage: every field the search varies, and the micro-batches it leaves."""

    tp: int
    cp: int
    pp: int
    dp: int
    ep: int
    micro_batch_size: int
    schedule: Schedule
    virtual_stages: int
    activation_recompute: Recompute
    micro_batches: int


def _shapes(base: TrainingStep, gpus: int, sequences: int) -> list[_Shape]:
    """Every layout of `gpus` GPUs for the model that the batch divides into whole micro-batches, but the
    ZeRO stage (each shape is tried with every one of ZERO_STAGES)."""
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
                                found.append(_Shape(tp, cp, pp, dp, ep, mbs, schedule, v, recompute, micro_batches))
    return found


def _step(base: TrainingStep, shape: _Shape, zero_stage: int) -> TrainingStep:
    """`base` with the layout `shape` at `zero_stage`."""
    layout = Parallelism(tp=shape.tp, cp=shape.cp, pp=shape.pp, dp=shape.dp, ep=shape.ep,
                         micro_batch_size=shape.micro_batch_size, schedule=shape.schedule,
                         virtual_stages=shape.virtual_stages, activation_recompute=shape.activation_recompute,
                         zero_stage=zero_stage)
    return replace(base, layout=layout, micro_batches=shape.micro_batches)


def _candidates(base: TrainingStep, gpus: int, sequences: int) -> list[TrainingStep]:
    """Every candidate layout of `gpus` GPUs for the model and batch, as steps."""
    return [_step(base, shape, zero) for shape in _shapes(base, gpus, sequences) for zero in ZERO_STAGES]


def _schedules(layers: int, pp: int) -> list[tuple[Schedule, int]]:
    """Pipeline schedules worth trying on `pp` stages: 1F1B, interleaved with 2 or 4 chunks where every
    chunk gets a layer, and zero bubble (DualPipe needs a run's own kernels; users set it by hand)."""
    if pp == 1:
        return [(Schedule.ONE_F_ONE_B, 1)]
    interleaved = [(Schedule.INTERLEAVED, v) for v in (2, 4) if layers >= pp * v]
    return [(Schedule.ONE_F_ONE_B, 1), *interleaved, (Schedule.ZERO_BUBBLE, 1)]


class _KernelTimes:
    """Seconds of one micro-batch's kernels on one GPU of a search's layouts: a dense and an MoE layer (forward,
    backward and recompute) and the output layer. They depend on the layout only through tp, cp, micro-batch
    size, ep and recompute, and under FP8 on the micro-batches (weight casts are spread over them), so each is
    summed once per search."""

    def __init__(self, base: TrainingStep) -> None:
        self._base = base
        self._seconds: dict[tuple[object, ...], tuple[float, float, float]] = {}
        self._busiest_s: dict[tuple[object, ...], float] = {}

    def _key(self, shape: _Shape) -> tuple[object, ...]:
        """The fields of `shape` its kernel times depend on."""
        fp8_micro_batches = shape.micro_batches if self._base.precision is Precision.FP8 else 0
        return shape.tp, shape.cp, shape.micro_batch_size, shape.ep, shape.activation_recompute, fp8_micro_batches

    def __call__(self, shape: _Shape) -> tuple[float, float, float]:
        """(dense layer, MoE layer, output layer) seconds; the MoE layer is the dense one in a dense model."""
        key = self._key(shape)
        if key not in self._seconds:
            step = _step(self._base, shape, ZERO_STAGES[0])
            acc = step.accelerator
            dense, moe = (sum(kernel_time_s(k, acc) for k in (*x.forward, *x.backward, *x.recompute))
                          for x in (layer_kernels(step, moe=False), layer_kernels(step, moe=step.model.is_moe)))
            self._seconds[key] = dense, moe, sum(kernel_time_s(k, acc) for k in output_kernels(step))
        return self._seconds[key]

    def _per_micro_s(self, shape: _Shape) -> float:
        """The busiest stage's kernel seconds for one micro-batch (its layers and the output layer), worked out
        once per kernel times and pipeline depth."""
        key = (*self._key(shape), shape.pp)
        if key not in self._busiest_s:
            m, pp = self._base.model, shape.pp
            dense_s, moe_s, output_s = self(shape)
            layers = max(stage_layers(m.layers, pp))
            moe = min(layers, math.ceil((m.layers - m.dense_layers) / pp)) if m.is_moe else 0
            parts = [(dense_s, layers - moe)] + ([(moe_s, moe)] if moe else [])
            self._busiest_s[key] = sum(n * seconds for seconds, n in parts) + output_s
        return self._busiest_s[key]

    def compute_only_s(self, shape: _Shape) -> float:
        """Step time from the kernels of the busiest stage and the bubble alone: the estimate that orders the
        candidates (with equal stages, backward twice forward and weight gradients half the backward)."""
        per_micro = self._per_micro_s(shape)
        third = np.full(shape.pp, per_micro / 3)
        stage = StageTimes(third, 2 * third, third)
        return per_micro * shape.micro_batches + bubble_s(shape.schedule, stage, shape.virtual_stages)

    def compute_only_estimates_s(self, shapes: list[_Shape]) -> list[float]:
        """`compute_only_s` of every shape, the bubbles worked out with numpy for all shapes of a pipeline
        depth and schedule at once (the same sums of pp - 1 equal stage slots, so the same figures)."""
        per_micro = np.array([self._per_micro_s(shape) for shape in shapes])
        third = per_micro / 3
        slot = third + 2 * third
        idle = np.maximum(slot - 2.0 * third, 0.0)  # zero bubble: forward and backward less the weight gradients
        bubbles = np.zeros(len(shapes))
        groups: dict[tuple[int, Schedule], list[int]] = {}
        for index, shape in enumerate(shapes):
            groups.setdefault((shape.pp, shape.schedule), []).append(index)
        for (pp, schedule), indices in groups.items():
            rows = np.array(indices)
            if pp == 1:
                continue
            if schedule is Schedule.INTERLEAVED:
                chunks = np.array([shapes[i].virtual_stages for i in indices], dtype=np.float64)
                bubbles[rows] = np.repeat(slot[rows, None], pp - 1, axis=1).sum(axis=1) / chunks
            elif schedule is Schedule.ZERO_BUBBLE:
                bubbles[rows] = np.repeat(idle[rows, None], pp - 1, axis=1).sum(axis=1)
            else:
                assert schedule is Schedule.ONE_F_ONE_B, schedule  # `_schedules` offers no DualPipe
                bubbles[rows] = np.repeat(slot[rows, None], pp - 1, axis=1).sum(axis=1)
        micro_batches = np.array([shape.micro_batches for shape in shapes], dtype=np.float64)
        return list((per_micro * micro_batches + bubbles).tolist())

    def lower_bound_s(self, shape: _Shape) -> float:
        """A step time no layout's full step model undercuts: its busiest stage runs at least the mean
        stage's layers at the cheaper layer's kernel time for every micro-batch, and communication, bubble
        and optimizer only add (a hair under, for rounding)."""
        dense_s, moe_s, _ = self(shape)
        return shape.micro_batches * self._base.model.layers / shape.pp * min(dense_s, moe_s) * (1.0 - 1e-9)


def _fitting(base: TrainingStep, shapes: Iterable[_Shape], reserve_bytes: float,
             ) -> Iterator[tuple[_Shape, TrainingStep, float]]:
    """The candidates of `shapes` that fit, with their shape and bytes per GPU, shape by shape in ZeRO-stage order. A
    higher ZeRO stage never holds more (it shards one more term), so a shape whose ZeRO-3 layout does not fit
    has no layout that does."""
    for shape in shapes:
        frugal = _step(base, shape, ZERO_STAGES[-1])
        capacity = frugal.accelerator.hbm_bytes
        if not _may_fit(frugal, reserve_bytes):
            continue
        frugal_bytes = training_memory(frugal, reserve_bytes).total_bytes
        if frugal_bytes > capacity * (1 + 1e-12):  # the margin covers rounding
            continue
        others = zero_stage_memories(frugal, reserve_bytes, ZERO_STAGES[:-1])
        for zero, memory in zip(ZERO_STAGES[:-1], others, strict=True):
            if memory.total_bytes <= capacity:
                yield shape, _step(base, shape, zero), memory.total_bytes
        if frugal_bytes <= capacity:
            yield shape, frugal, frugal_bytes


def fits_somehow(base: TrainingStep, gpus: int, reserve_bytes: float) -> bool:
    """Whether any layout of `gpus` GPUs for `base`'s model and batch fits in memory. Only ZeRO-3 with full
    recompute is tried: of layouts alike otherwise, it holds the least of every term (all state sharded, one
    layer's input kept per micro-batch in flight)."""
    frugal = (_step(base, s, 3) for s in _shapes(base, gpus, base.sequences_per_step)
              if s.activation_recompute is Recompute.FULL)
    return any(_may_fit(s, reserve_bytes) and training_memory(s, reserve_bytes).total_bytes <= s.accelerator.hbm_bytes
               for s in frugal)


def _may_fit(step: TrainingStep, reserve_bytes: float) -> bool:
    """False where the step's cheap memory floor already exceeds the GPU's memory (the margin covers rounding):
    no ZeRO stage of its layout fits."""
    return memory_floor_bytes(step, reserve_bytes) <= step.accelerator.hbm_bytes * (1 + 1e-9)


def best_layouts(base: TrainingStep, network: Network, gpus: int, reserve_bytes: float,
                 top: int = 10, first_gpu: int = 0) -> list[RankedLayout]:
    """The `top` fastest layouts that fit, fastest first, among the FULL_EVALUATIONS that fit with the least
    compute-only time (ties in enumeration order), ranks on GPUs `first_gpu`.. of `network` (a pool's). `base`
    gives the model, accelerator, precision, sequence length and batch (its layout is ignored).

    Lazy and exact: shapes are ordered by the compute-only estimate and checked for memory only until the
    shortlist is full; the shortlist is then priced in the order of a lower bound on the step time, and once
    that bound exceeds the top-th fastest step so far no layout left can rank, so the full step model (the
    network's collectives) stops there."""
    kernels = _KernelTimes(base)
    shapes = _shapes(base, gpus, base.sequences_per_step)
    estimates = kernels.compute_only_estimates_s(shapes)
    ordered = (shapes[i] for i in sorted(range(len(shapes)), key=estimates.__getitem__))
    shortlist = list(itertools.islice(_fitting(base, ordered, reserve_bytes), FULL_EVALUATIONS))
    bounds = [kernels.lower_bound_s(shape) for shape, _, _ in shortlist]
    model = OperatorStepModel()
    ranked: list[tuple[float, int, RankedLayout]] = []  # the index breaks ties in shortlist order
    for index in sorted(range(len(shortlist)), key=bounds.__getitem__):
        if len(ranked) == top and bounds[index] > ranked[-1][0]:
            break
        _, step, total = shortlist[index]
        ranks = np.arange(first_gpu, first_gpu + gpus, dtype=np.int64) if first_gpu else None
        timed = RankedLayout(step, model.step_time(step, network, ranks), total)
        bisect.insort(ranked, (timed.time.total_s, index, timed), key=lambda r: r[:2])
        del ranked[top:]
    return [r for _, _, r in ranked]


def search_layouts(base: TrainingStep, network: Network, gpus: int, reserve_bytes: float,
                   top: int = 10, first_gpu: int = 0) -> tuple[list[RankedLayout], int, int]:
    """`best_layouts`, and how many layouts were enumerated and fit in memory."""
    shapes = _shapes(base, gpus, base.sequences_per_step)
    fitting = sum(1 for _ in _fitting(base, shapes, reserve_bytes))
    return best_layouts(base, network, gpus, reserve_bytes, top, first_gpu), len(shapes) * len(ZERO_STAGES), fitting
