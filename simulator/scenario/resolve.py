"""Turn validated scenario sections into the pure objects the models and the engine take (SI dataclasses)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.scenario.schema import ClusterSpec, TrainingWorkload
from simulator.topology.build import build_network
from simulator.topology.network import Network
from simulator.topology.shape import ClusterShape
from simulator.topology.specs import OcsTorusTopology, TorusTopology
from simulator.workload.training_job import TrainingStep


class MissingFigure(ValueError):
    """A figure the simulation needs that neither the catalog nor the scenario gives."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _bandwidth(given: float | None, default: float | None, needed: bool, key: str, what: str, acc: str) -> float:
    """A link bandwidth from the topology, else the accelerator; infinite where no such link is used."""
    value = given or default
    if value is not None:
        return value
    if needed:
        raise MissingFigure(
            ("cluster", "topology", key), f"{acc} has no {what} in the catalog; give one per GPU here"
        )
    return math.inf


def cluster_shape(cluster: ClusterSpec) -> ClusterShape:
    """Counts and per-GPU bandwidths of a cluster, defaulted from the accelerator."""
    acc, topo = cluster.accelerator, cluster.topology
    torus = isinstance(topo, TorusTopology | OcsTorusTopology)
    link_given = isinstance(topo, TorusTopology | OcsTorusTopology) and topo.link_bandwidth_bytes_per_s is not None
    scale_up = _bandwidth(
        topo.scale_up_bandwidth_bytes_per_s, acc.scale_up_bandwidth_bytes_per_s,
        (cluster.gpus_per_node > 1 or torus) and not link_given,
        "scale_up_bandwidth", "scale-up bandwidth (e.g. 400 GB/s)", acc.name,
    )
    nic = _bandwidth(
        topo.nic_bandwidth_bytes_per_s, acc.nic_bandwidth_bytes_per_s, cluster.nodes > 1 and not torus,
        "nic_bandwidth", "NIC bandwidth (e.g. 400 Gbps)", acc.name,
    )
    return ClusterShape(cluster.nodes, cluster.gpus_per_node, scale_up, nic, acc.in_switch_reduction)


def network(cluster: ClusterSpec) -> Network:
    """The cluster's network, built from its topology; MissingFigure or TopologyError when it cannot be."""
    return build_network(cluster.topology, cluster_shape(cluster))


@dataclass(frozen=True)
class TrainingPlan:
    """A training workload made concrete: the step it repeats and how many steps cover its tokens."""

    step: TrainingStep
    steps: int
    notes: tuple[str, ...]  # adjustments the user should know about (batch rounding)


def training_plan(workload: TrainingWorkload, cluster: ClusterSpec) -> TrainingPlan:
    """Batch arithmetic: whole micro-batches per DP replica, and enough steps to reach `tokens`."""
    lay = workload.parallelism
    per_microbatch_round = lay.dp * lay.micro_batch_size
    if workload.global_batch_size is not None:
        sequences = float(workload.global_batch_size)
        asked = f"global_batch_size {workload.global_batch_size}"
    else:
        tokens = workload.global_batch_tokens or workload.seq_len * per_microbatch_round
        sequences = tokens / workload.seq_len
        asked = f"global_batch_tokens {tokens:,.0f}"
    micro_batches = max(1, round(sequences / per_microbatch_round))
    step = TrainingStep(
        model=workload.model,
        accelerator=cluster.accelerator,
        precision=workload.precision,
        layout=lay,
        seq_len=workload.seq_len,
        micro_batches=micro_batches,
        flash_attention=workload.flash_attention,
        structured_sparsity=workload.structured_sparsity,
        pruned_fraction=workload.pruned_fraction,
        capacity_factor=workload.moe_capacity_factor,
    )
    notes: tuple[str, ...] = ()
    if step.sequences_per_step != sequences:
        notes = (
            f"{workload.name}: {asked} rounded to {step.tokens_per_step:,} tokens "
            f"({step.sequences_per_step} sequences of {workload.seq_len} = {micro_batches} micro-batches of "
            f"{lay.micro_batch_size} on each of {lay.dp} data-parallel replicas)",
        )
    steps = math.ceil(workload.tokens / step.tokens_per_step)
    return TrainingPlan(step=step, steps=steps, notes=notes)
