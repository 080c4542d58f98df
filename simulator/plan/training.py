"""A training workload made concrete: the step it repeats, how many steps cover its tokens, its step time on
the cluster's network, and how it checkpoints and recovers under the scenario's failure model."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from simulator.models.reliability import NoSpare, Scope, cause_kind
from simulator.models.topology.network import FloatArray, Network
from simulator.models.topology.specs import OcsTorusTopology
from simulator.models.workload.memory import training_memory
from simulator.models.workload.split import balanced_split, even_split
from simulator.models.workload.step_time import OperatorStepModel, StepTime, StepTimeModel
from simulator.models.workload.traffic import Footprint, channel_utilization
from simulator.models.workload.training_job import TrainingStep
from simulator.plan.network import cached_network, topology_leaves
from simulator.scenario.capacity import reclaim_cause
from simulator.scenario.schema import ClusterSpec, Scenario, TrainingWorkload
from simulator.units import SECONDS_PER_HOUR

DEFAULT_STEP_MODEL = OperatorStepModel()  # stateless; one instance so that caches keyed on it hit


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
        attention_kernel=workload.attention_kernel,
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


@dataclass(frozen=True)
class RecoveryPlan:
    """How a training job checkpoints and recovers (seconds; steps for the interval)."""

    interval_steps: int  # steps between checkpoints (0: never)
    stall_s: float  # training paused per checkpoint
    write_s: float  # until a checkpoint is durable (>= stall_s; longer when asynchronous)
    restore_s: float
    detection_s: float
    restart_s: float
    spare_nodes: int
    swap_nodes: int = 1  # nodes swapped together (an OCS cube), aligned groups of the allocation
    swap_delay_s: float = 0.0  # to bring a spare in (OCS reconfiguration)
    on_no_spare: NoSpare = NoSpare.WAIT
    dp: int = 1  # data-parallel replicas (what shrinking divides the global batch over)
    replicas_per_node: int = 1  # replicas a node failure takes out (8 at TP1 on 8-GPU nodes, 1 if one spans nodes)


NO_FAILURES = RecoveryPlan(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)


def fits_memory(workload: TrainingWorkload, cluster: ClusterSpec) -> bool:
    """Whether the workload's layout fits the memory of `cluster`'s accelerator (a pool's view of it)."""
    return training_memory(training_plan(workload, cluster).step, workload.memory_reserve_bytes).headroom_bytes >= 0


def priced_step(workload: TrainingWorkload, cluster: ClusterSpec, model: StepTimeModel | None = None,
                first_gpu: int = 0) -> tuple[TrainingPlan, StepTime]:
    """Batch plan and step time of a workload on the cluster's network, its ranks on the GPUs from `first_gpu` on
    (a pool's first; with the default step model, cached: pure in the immutable specs, so replicates and sweeps
    that only change seeds or failures reuse it)."""
    if model is None:
        return _default_priced(workload, cluster, first_gpu)
    plan = training_plan(workload, cluster)
    net = cached_network(cluster)
    return plan, model.step_time(plan.step, net, pool_ranks(first_gpu, plan.step.layout.world, net))


@functools.lru_cache(maxsize=256)
def _default_priced(workload: TrainingWorkload, cluster: ClusterSpec, first_gpu: int) -> tuple[TrainingPlan, StepTime]:
    return priced_step(workload, cluster, DEFAULT_STEP_MODEL, first_gpu)


def pool_ranks(first_gpu: int, count: int, net: Network) -> NDArray[np.int64] | None:
    """GPUs `first_gpu`.. as ranks (None: 0..count-1, also where they would run past the network)."""
    return np.arange(first_gpu, first_gpu + count, dtype=np.int64) if 0 < first_gpu <= net.gpus - count else None


def recovery_plan(workload: TrainingWorkload, scenario: Scenario, step_s: float) -> RecoveryPlan:
    """Checkpoint interval (in whole steps) and recovery times of a training job; Young and Daly use the
    job's mean time to failure from the failure model's rates over the nodes it runs on."""
    ckpt, recovery = workload.checkpoint, workload.recovery
    interval_s = ckpt.chosen_interval_s(job_mttf_s(workload, scenario))
    steps = max(1, round(interval_s / step_s)) if interval_s > 0 else 0
    spares, swap, delay = recovery.spare_nodes, 1, 0.0
    topology = scenario.cluster.topology
    if isinstance(topology, OcsTorusTopology):  # spare cubes, swapped in by the OCS after its reconfiguration
        swap = max(1, math.prod(topology.cube) // scenario.cluster.gpus_per_node)
        spares, delay = topology.spare_cubes * swap, topology.reconfiguration_delay_s
    lay = workload.parallelism
    per_node = max(1, scenario.cluster.gpus_per_node // (lay.tp * lay.cp * lay.pp))
    return RecoveryPlan(steps, ckpt.stall_s, max(ckpt.write_s, ckpt.stall_s), ckpt.restore_s, recovery.detection_s,
                        recovery.restart_s, spares, swap, delay, recovery.on_no_spare, lay.dp, per_node)


def job_mttf_s(workload: TrainingWorkload, scenario: Scenario) -> float:
    """Mean time between failures that stop the job: 1 / (sum over components of units it spans / MTBF, plus the
    reclaims of the spot pools it runs on)."""
    rate = reclaims_per_s(workload, scenario.cluster)
    if scenario.failures is None:
        return 1.0 / rate if rate else math.inf
    nodes = math.ceil(workload.parallelism.world / scenario.cluster.gpus_per_node)
    for c in scenario.failures.components:
        if c.scope in (Scope.LINK, Scope.STORAGE):
            continue  # they slow jobs or block checkpoints; they do not stop them
        units = {Scope.GPU: workload.parallelism.world, Scope.NODE: nodes,
                 Scope.LEAF: scenario.failures.leaf_units(nodes, topology_leaves(scenario.cluster)),
                 Scope.RACK: math.ceil(nodes / scenario.failures.nodes_per_rack)}[c.scope]
        offenders = 1 - c.repeat_offender_fraction + c.repeat_offender_fraction * c.repeat_offender_factor
        rate += units * offenders / c.unit_mtbf_s
    return 1.0 / rate if rate else math.inf


def reclaims_per_s(workload: TrainingWorkload, cluster: ClusterSpec) -> float:
    """Spot reclaims per second over the nodes the job runs on: those of its pools (`pools:`), of the pool it is
    pinned to, or else of the first pool (a job free to go anywhere is taken to run there)."""
    gpus = workload.pools or {workload.pool or cluster.pool_specs[0].name: workload.parallelism.world}
    specs = [(cluster.pool_specs[cluster.pool_index(name)], n) for name, n in gpus.items()]
    return sum(math.ceil(n / cluster.gpus_per_node) * p.spot.reclaims_per_node_hour / SECONDS_PER_HOUR
               for p, n in specs if p.spot is not None)


def cause_labels(scenario: Scenario) -> list[str]:
    """Every cause label the failure model can produce (so replicates average zeros too)."""
    labels: set[str] = set()
    for c in scenario.failures.components if scenario.failures else []:
        kind = cause_kind(c.scope, c.effect)
        if kind is not None:
            labels |= {kind.label(cause) for cause in c.causes or {c.name: 1.0}}
    labels |= {reclaim_cause(p.name) for p in scenario.cluster.pool_specs if p.spot is not None}
    return sorted(labels)


def placed_step(model: StepTimeModel, step: TrainingStep, net: Network, gpus: NDArray[np.int64]) -> StepTime:
    """The step with the job's ranks on `gpus` of `net` (an OCS torus re-forms its slice round a spare cube,
    so there the ranks keep their slice positions)."""
    return model.step_time(step, net, _ranks(step, net, gpus))


def _ranks(step: TrainingStep, net: Network, gpus: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """`gpus` as the ranks' GPUs, or None (ranks on GPUs 0..n-1) where they are not all inside `net`."""
    return gpus if gpus.size == step.layout.world and int(gpus.max()) < net.gpus else None


@dataclass(frozen=True)
class PlacedTraining:
    """A training step with its ranks on some GPUs, as the shared fabric sees it (simulator/engine/fabric.py)."""

    model: StepTimeModel
    step: TrainingStep
    network: Network
    gpus: NDArray[np.int64]
    timed: StepTime  # the step alone on these GPUs
    pace: float  # its time over the step's with the ranks on GPUs 0..n-1
    footprint: Footprint

    def shared(self, share: FloatArray) -> float:
        """The step on what others leave of each channel of its footprint, over the step alone."""
        left = np.ones_like(self.network.capacity)
        left[self.footprint.channels] = share
        return placed_step(self.model, self.step, self.network.shared(left), self.gpus).total_s / self.timed.total_s


@functools.lru_cache(maxsize=1024)
def _placed(model: StepTimeModel, step: TrainingStep, net: Network, gpus: bytes) -> PlacedTraining:
    ids = np.frombuffer(gpus, dtype=np.int64)
    timed = placed_step(model, step, net, ids)
    reference = model.step_time(step, net).total_s
    busy = channel_utilization(step, timed, net, _ranks(step, net, ids))
    return PlacedTraining(model, step, net, ids, timed, timed.total_s / reference, Footprint.of(busy))


def placed_training(model: StepTimeModel, step: TrainingStep, net: Network, gpus: NDArray[np.int64]) -> PlacedTraining:
    """The step, its pace and its footprint with its ranks on `gpus` (cached: replicates and requeues onto the
    same GPUs reuse it; a re-formed OCS slice keeps the slice positions, as placed_step)."""
    return _placed(model, step, net, np.ascontiguousarray(gpus, dtype=np.int64).tobytes())


def placed_step_s(model: StepTimeModel, step: TrainingStep, net: Network, gpus: NDArray[np.int64]) -> float:
    """Seconds of `placed_step`."""
    return placed_step(model, step, net, gpus).total_s


def split_step(model: StepTimeModel, workload: TrainingWorkload, cluster: ClusterSpec, gpus: NDArray[np.int64],
               pool_of_gpu: NDArray[np.int64]) -> StepTime:
    """The step of a job whose data-parallel replicas sit in several pools (`workload.pools`), ranks on `gpus`:
    each pool's replicas are priced with its own accelerator, on the whole job's ranks over the network with that
    chip's links (so the gradient collective crosses the pools' links), the micro-batches divided by
    `workload.batch_split`, and the slowest pool's time is the step's. Its FLOPs are the whole global batch's."""
    plan = training_plan(workload, cluster)
    names = list(workload.pools or {})
    replica_gpus = plan.step.layout.world // plan.step.layout.dp
    counts = np.bincount(pool_of_gpu[gpus], minlength=len(cluster.pool_specs))
    present = [i for i in range(len(counts)) if counts[i]] or [cluster.pool_index(n) for n in names]
    replicas = [max(1, int(counts[i]) // replica_gpus) for i in present]
    steps = [replace(plan.step, accelerator=cluster.pool_specs[i].accelerator) for i in present]
    nets = [cached_network(cluster.view(cluster.pool_specs[i].name)) for i in present]

    def timed(p: int, micro_batches: int) -> StepTime:
        return placed_step(model, replace(steps[p], micro_batches=micro_batches), nets[p], gpus)

    m = plan.step.micro_batches
    if workload.batch_split == "even" or len(present) == 1:
        shares = even_split(replicas, m)
    else:
        at_m = [timed(p, m).total_s for p in range(len(present))]
        slope = [max(1e-12, timed(p, m + 1).total_s - at_m[p]) for p in range(len(present))]
        shares = balanced_split(replicas, m * sum(replicas), [t - s * m for t, s in zip(at_m, slope, strict=True)],
                                slope)
    paced = [timed(p, share.most) for p, share in enumerate(shares)]
    slowest = max(paced, key=lambda t: t.total_s)
    whole = model.step_time(plan.step, nets[0])
    return replace(slowest, model_flops=whole.model_flops, hardware_flops=whole.hardware_flops)
