"""How busy a training job keeps each network channel: the footprint other workloads meet on shared links.

Each kind of communication of a step (tensor, context, expert and pipeline parallel, data-parallel gradients)
moves its flows over the channels its communicator groups route through. The step model gives the seconds
each kind takes per step; its busiest channel is busy all that time and every other channel in proportion to
the bytes it carries (the fluid bottleneck model of simulator/models/topology/network.py). A channel's
utilization is the sum over kinds of those busy seconds over the step time, at most 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from simulator.models.topology.collectives import all_to_all_flows, ring_flows
from simulator.models.topology.network import FloatArray, IntArray, Network
from simulator.models.topology.placement import communicators, expert_groups, parallel_groups, stage_boundaries
from simulator.models.workload.step_time import StepTime
from simulator.models.workload.training_job import TrainingStep


def _footprint(network: Network, src: IntArray, dst: IntArray) -> FloatArray:
    """Each channel's share of the busiest channel's bytes for these flows (1 on the bottleneck)."""
    load = network.channel_load(src, dst)
    peak = float(load.max()) if load.size else 0.0
    return load / peak if peak > 0 else load


def channel_utilization(step: TrainingStep, timed: StepTime, network: Network,
                        gpus: IntArray | None = None) -> FloatArray:
    """Fraction of the step each channel of `network` carries this job's traffic, with rank r on `gpus[r]`."""
    lay = step.layout
    groups = parallel_groups(lay.degrees, lay.placement, gpus)
    busy = np.zeros_like(network.capacity)
    kinds: list[tuple[float, IntArray, IntArray]] = []
    if lay.tp > 1:
        kinds.append((timed.tp_comm_s, *ring_flows(network, groups["tp"])[:2]))
    if lay.cp > 1:
        kinds.append((timed.cp_comm_s, *ring_flows(network, groups["cp"])[:2]))
    if lay.ep > 1:
        ep_groups, _ = expert_groups(groups["dp"], lay.ep)
        kinds.append((timed.ep_comm_s, *all_to_all_flows(ep_groups)[:2]))
    if lay.pp > 1:
        senders, receivers = stage_boundaries(groups["pp"])
        kinds.append((timed.pp_p2p_s, np.concatenate([senders, receivers]), np.concatenate([receivers, senders])))
    if lay.dp * lay.cp > 1:
        kinds.append((timed.dp_comm_s, *ring_flows(network, communicators(lay.degrees, ("cp", "dp"), lay.placement,
                                                                          gpus))[:2]))
    for seconds, src, dst in kinds:
        if seconds > 0:
            busy += seconds * _footprint(network, src, dst)
    return np.minimum(busy / timed.total_s, 1.0) if timed.total_s > 0 else busy



@dataclass(frozen=True)
class Footprint:
    """A workload's load on the channels it uses: their indices and its busy fraction of each (> 0)."""

    channels: IntArray
    busy: FloatArray

    @classmethod
    def of(cls, dense: FloatArray) -> Footprint:
        """The non-zero entries of a per-channel array."""
        used = np.flatnonzero(dense > 0)
        return cls(used, dense[used])


NO_FOOTPRINT = Footprint(np.zeros(0, dtype=np.int64), np.zeros(0))


class Placed(Protocol):
    """A workload's communication with its ranks on some GPUs, as the shared fabric sees it."""

    @property
    def footprint(self) -> Footprint:
        """Its busy fraction of each channel it crosses, alone on the network."""
        ...

    @property
    def pace(self) -> float:
        """Its run time alone on these GPUs over its run time with the ranks on GPUs 0..n-1."""
        ...

    def shared(self, share: FloatArray) -> float:
        """Its run-time factor when each channel of its footprint keeps only `share` (0..1, aligned with
        footprint.channels) of its capacity, relative to running alone on the same GPUs (>= 1)."""
        ...


class Pattern(StrEnum):
    """The collective a batch job without a model repeats across its GPUs."""

    ALL_REDUCE = "all_reduce"  # data-parallel gradients: NCCL rings (one per rail across nodes)
    ALL_TO_ALL = "all_to_all"  # expert parallelism: every GPU to every other


@dataclass(frozen=True)
class PatternTraffic:
    """A job that spends `share` of its run time in one collective over all its GPUs when its ranks sit on GPUs
    0..n-1 alone on the network (its stated run time), and the rest computing. Elsewhere the collective takes
    its busiest channel's time there over its time on GPUs 0..n-1 (the fluid bottleneck model); under
    contention, its busiest channel on what the others leave."""

    network: Network
    pattern: Pattern
    share: float

    def seconds(self, gpus: IntArray) -> FloatArray:
        """Per channel: seconds per byte of each flow of one phase of the collective with its ranks on `gpus`."""
        groups = gpus[None, :]
        src, dst, _ = ring_flows(self.network, groups) if self.pattern is Pattern.ALL_REDUCE \
            else all_to_all_flows(groups)
        return _per_capacity(self.network, self.network.channel_load(src, dst))

    def place(self, gpus: IntArray) -> PlacedPattern:
        """The job on `gpus`: its pace there alone and its footprint."""
        if self.share <= 0 or gpus.size < 2:
            return PlacedPattern(1.0, 0.0, NO_FOOTPRINT)
        seconds = self.seconds(gpus)
        peak, reference = float(seconds.max()), _reference_peak_s(self, gpus.size)
        if peak <= 0 or reference <= 0:
            return PlacedPattern(1.0, 0.0, NO_FOOTPRINT)
        collective = self.share * peak / reference  # the collective's part of the run time, vs GPUs 0..n-1
        pace = 1.0 - self.share + collective
        return PlacedPattern(pace, collective, Footprint.of(seconds / peak * (collective / pace)))


@dataclass(frozen=True)
class PlacedPattern:
    """A pattern job on its GPUs: run-time factor alone vs GPUs 0..n-1, of which `collective` is communication."""

    pace: float
    collective: float
    footprint: Footprint

    def shared(self, share: FloatArray) -> float:
        """(compute + the collective slowed by its worst channel) / (compute + the collective alone)."""
        busy = self.footprint.busy
        if not busy.size:
            return 1.0
        slowest = float((busy / np.maximum(share, 1e-12)).max() / busy.max())
        return (self.pace - self.collective + self.collective * max(1.0, slowest)) / self.pace


@functools.lru_cache(maxsize=1024)
def _reference_peak_s(traffic: PatternTraffic, gpus: int) -> float:
    """The collective's busiest-channel seconds per byte with the ranks on GPUs 0..n-1."""
    if gpus < 2 or gpus > traffic.network.gpus:
        return 0.0
    return float(traffic.seconds(np.arange(gpus, dtype=np.int64)).max())


def transfer_traffic(network: Network, senders: list[IntArray], receivers: list[IntArray],
                     bytes_per_s: float) -> PlacedPattern:
    """Streams from every sender group to every receiver group (rank j to rank j, over the smaller group's ranks),
    `bytes_per_s` in all spread evenly: prefill replicas handing KV caches to decode replicas. A channel's busy
    fraction is its bytes per second over its capacity; contention stretches the transfers by their worst
    channel on what the others leave (the whole of their time is communication)."""
    pairs = [(s[:n], r[:n]) for s in senders for r in receivers if (n := min(s.size, r.size)) > 0]
    if not pairs or bytes_per_s <= 0:
        return PlacedPattern(1.0, 1.0, NO_FOOTPRINT)
    src = np.concatenate([s for s, _ in pairs])
    dst = np.concatenate([r for _, r in pairs])
    busy = np.minimum(_per_capacity(network, network.channel_load(src, dst, bytes_per_s / src.size)), 1.0)
    return PlacedPattern(1.0, 1.0, Footprint.of(busy))


def _per_capacity(network: Network, load: FloatArray) -> FloatArray:
    """Each channel's load over its capacity (0 where it carries nothing or has no capacity left)."""
    ratio = np.zeros_like(load)
    used = (load > 0) & (network.capacity > 0)
    ratio[used] = load[used] / network.capacity[used]
    return ratio
