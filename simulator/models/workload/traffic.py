"""How busy a training job keeps each network channel: the footprint other workloads meet on shared links.

Each kind of communication of a step (tensor, context, expert and pipeline parallel, data-parallel gradients)
moves its flows over the channels its communicator groups route through. The step model gives the seconds
each kind takes per step; its busiest channel is busy all that time and every other channel in proportion to
the bytes it carries (the fluid bottleneck model of simulator/models/topology/network.py). A channel's
utilization is the sum over kinds of those busy seconds over the step time, at most 1.
"""

from __future__ import annotations

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
