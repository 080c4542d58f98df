"""The planners' MFU estimate and memory sizing: the layout search (simulator/models/workload/layout_search.py)
on a reference cluster (`clustersim plan-layout` runs it on a scenario's cluster: layout_plan.py)."""

from __future__ import annotations

import functools
import math

from simulator.models.hardware import Accelerator, Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.layout_search import best_layouts, fits_somehow
from simulator.models.workload.memory import GRAD_BYTES, OPTIMIZER_BYTES, WEIGHT_BYTES
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import parameter_counts
from simulator.units import format_count

MFU_ESTIMATE_MAX_NODES = 2048  # beyond 16,384 GPUs more data parallelism barely changes the best MFU
FIT_MAX_NODES = 2**17  # the fewest GPUs that hold a model are looked for up to 1,048,576
RESERVE_BYTES = 2 * 2**30  # framework, CUDA context and fragmentation per GPU


def _two_figures(model_params: float) -> float:
    """Parameters rounded to two significant figures, so that iterating planners hit the caches."""
    return float(f"{model_params:.2g}")


def fewest_gpus(model_params: float, accelerator: Accelerator) -> int:
    """The fewest GPUs, a power of two of 8-GPU nodes, on which some layout of a Llama-style model of
    `model_params` (two significant figures) fits in memory; ValueError where none does up to FIT_MAX_NODES
    nodes, or the model is outside the Llama-style shapes."""
    return _fewest_nodes(_two_figures(model_params), accelerator) * 8


@functools.cache
def _fewest_nodes(model_params: float, accelerator: Accelerator) -> int:
    model = llama_style_model(model_params)
    # weights, gradients and optimizer state fully sharded over every GPU: a lower bound on the GPUs
    state_bytes = parameter_counts(model).total * (WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES)
    nodes: int = 2 ** max(0, math.ceil(math.log2(state_bytes / accelerator.hbm_bytes / 8)))
    while nodes <= FIT_MAX_NODES:
        if fits_somehow(_reference_step(model_params, accelerator, nodes), nodes * 8, RESERVE_BYTES):
            return nodes
        nodes *= 2
    raise ValueError(f"no layout of a {format_count(model_params)}-parameter model fits in the memory of "
                     f"{FIT_MAX_NODES * 8:,} {accelerator.name}")


def mfu_estimate_gpus(model_params: float, accelerator: Accelerator, gpus: int) -> int:
    """The GPUs `estimate_mfu` searches for `gpus`: the nearest power of two of 8-GPU nodes, at most 16,384
    GPUs, and at least the fewest that hold the model."""
    nodes: int = min(MFU_ESTIMATE_MAX_NODES, max(1, 2 ** round(math.log2(max(gpus, 8) / 8))))
    return max(nodes * 8, fewest_gpus(model_params, accelerator))


def estimate_mfu(model_params: float, accelerator: Accelerator, gpus: int) -> float:
    """MFU of the best layout for a Llama-style model of `model_params` (two significant figures) on
    `mfu_estimate_gpus` GPUs in 8-GPU nodes on a rail-optimized fat tree, 8,192-token sequences in batches of at
    least 2,048: what the step model predicts for a sensible layout (scaling-law planner)."""
    rounded = _two_figures(model_params)
    return _best_mfu(rounded, accelerator, mfu_estimate_gpus(rounded, accelerator, gpus) // 8)


@functools.cache
def _reference_network(accelerator: Accelerator, nodes: int) -> Network:
    """A rail-optimized fat tree of `nodes` 8-GPU nodes (shared by every model searched on it)."""
    nic = accelerator.nic_bandwidth_bytes_per_s or 50e9
    shape = ClusterShape(nodes, 8, accelerator.scale_up_bandwidth_bytes_per_s or 450e9, nic,
                         accelerator.in_switch_reduction)
    tiers = 2 if nodes * 8 <= 2048 else 3
    return build_network(FatTreeTopology(kind="fat_tree", tiers=tiers, radix=64 if tiers == 3 else 128,
                                         rail_optimized=True), shape).memoize()


def _reference_step(model_params: float, accelerator: Accelerator, nodes: int) -> TrainingStep:
    """The model, in BF16, 8,192-token sequences, max(2,048, GPUs) of them a step (its layout is searched)."""
    return TrainingStep(llama_style_model(model_params), accelerator, Precision.BF16, Parallelism(), 8192,
                        max(2048, nodes * 8))


@functools.cache
def _best_mfu(model_params: float, accelerator: Accelerator, nodes: int) -> float:
    base = _reference_step(model_params, accelerator, nodes)
    ranked = best_layouts(base, _reference_network(accelerator, nodes), nodes * 8, RESERVE_BYTES, top=1)
    if not ranked:
        raise ValueError(f"no layout of a {format_count(model_params)}-parameter model fits {nodes * 8:,} "
                         f"{accelerator.name}")
    return ranked[0].mfu
