"""Pipeline schedules: how layers split over stages, how long the fill and drain take, and how many
micro-batches each stage holds at its peak. Pure arithmetic on per-stage times, cited per schedule:

- 1F1B (Narayanan et al. 2021, PipeDream-Flush): bubble = the other stages' forward+backward of one
  micro-batch, (pp - 1)(F + B) when stages are equal; stage s holds pp - s micro-batches.
- Interleaved 1F1B (same paper, sec. 2.2.2; Megatron-LM's schedules.py warm-up count): each stage runs
  `v` chunks, bubble / v; stage s holds 2(pp - s - 1) + (v - 1) pp + 1 chunks of a micro-batch.
- Zero bubble ZB-H1 (Qi et al., ICLR 2024; DeepSeek-V3 report Table 2 "ZB1P"): the backward splits into
  input gradients B and weight gradients W, and W fills the drain: bubble (pp - 1)(F + B - 2W) with B the
  whole backward, memory as 1F1B.
- DualPipe (DeepSeek-V3 report sec. 3.2.1, Table 2): two pipelines in opposite directions over the same
  ranks, forward and backward chunks of the pair overlapped with their communication: bubble
  (pp/2 - 1)(F&B + B - 3W), two copies of the parameters, pp + 1 micro-batches of activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class Schedule(StrEnum):
    """Pipeline schedule of a training job."""

    ONE_F_ONE_B = "1f1b"
    INTERLEAVED = "interleaved"
    ZERO_BUBBLE = "zero_bubble"
    DUALPIPE = "dualpipe"


def stage_layers(layers: int, pp: int, first: int | None = None, last: int | None = None) -> tuple[int, ...]:
    """Transformer layers on each pipeline stage. `first` / `last` fix the first and last stages (Megatron's
    decoder_first/last_pipeline_num_layers; Llama 3 put one layer fewer there for the embedding and the
    loss); the rest split as evenly as possible, the extra layers on the earliest of those stages."""
    if pp == 1:
        return (layers,)
    head = [] if first is None else [first]
    tail = [] if last is None else [last]
    middle_stages = pp - len(head) - len(tail)
    rest = layers - sum(head) - sum(tail)
    if middle_stages == 0:
        return (*head, *tail)
    base, extra = divmod(rest, middle_stages)
    middle = [base + (1 if i < extra else 0) for i in range(middle_stages)]
    return (*head, *middle, *tail)


def in_flight(schedule: Schedule, pp: int, virtual_stages: int, micro_batches: int) -> FloatArray:
    """Micro-batches of activations each stage holds at its peak, in units of the stage's whole layers."""
    stage = np.arange(pp, dtype=np.float64)
    if schedule is Schedule.INTERLEAVED:
        v = virtual_stages
        chunks = np.minimum(2.0 * (pp - stage - 1) + (v - 1) * pp + 1, micro_batches * v)
        return chunks / v
    if schedule is Schedule.DUALPIPE:
        return np.full(pp, float(min(pp + 1, micro_batches)))
    return np.minimum(pp - stage, micro_batches)


def mirrored_stages(schedule: Schedule) -> bool:
    """Whether rank i also holds stage pp - 1 - i (DualPipe's second direction): two copies of the weights."""
    return schedule is Schedule.DUALPIPE


@dataclass(frozen=True)
class StageTimes:
    """Per-stage seconds for one micro-batch: forward, whole backward, and its weight-gradient part, each
    including the communication on the stage's critical path."""

    forward_s: FloatArray
    backward_s: FloatArray
    weight_grad_s: FloatArray

    @property
    def slot_s(self) -> FloatArray:
        """Forward plus backward of one micro-batch on each stage."""
        return self.forward_s + self.backward_s


def bubble_s(schedule: Schedule, times: StageTimes, virtual_stages: int) -> float:
    """Fill-and-drain time of one step: what the slowest stage waits beyond its own micro-batches."""
    slots = times.slot_s
    slowest = int(np.argmax(slots))
    pp = len(slots)
    if pp == 1:
        return 0.0
    others = np.arange(pp) != slowest
    if schedule is Schedule.INTERLEAVED:
        return float(slots[others].sum()) / virtual_stages
    if schedule is Schedule.ZERO_BUBBLE:
        idle = times.forward_s + times.backward_s - 2.0 * times.weight_grad_s
        return float(np.maximum(idle, 0.0)[others].sum())
    if schedule is Schedule.DUALPIPE:
        f, b, w = (float(x[slowest]) for x in (times.forward_s, times.backward_s, times.weight_grad_s))
        return max(0.0, (pp / 2 - 1) * (f + b + b - 3.0 * w))
    return float(slots[others].sum())


def drain_slack_s(schedule: Schedule, times: StageTimes) -> FloatArray:
    """Seconds between each stage's last backward and the end of the pipeline's last one (stage 0's):
    gradient collectives of later stages can hide in it. DualPipe ends both directions on every rank."""
    if schedule is Schedule.DUALPIPE:
        return np.zeros(len(times.backward_s))
    return np.concatenate(([0.0], np.cumsum(times.backward_s)[:-1]))


def fill_slack_s(times: StageTimes) -> FloatArray:
    """Seconds before each stage's first forward of a step (the stages before it run theirs first): a
    parameter all-gather can hide in it and in that forward."""
    return np.concatenate(([0.0], np.cumsum(times.forward_s)[:-1]))
