"""The layout search's shortcuts change nothing: the lazy memory walk, the per-search kernel times and the
branch-and-bound over the shortlist give what pricing every candidate gives."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from simulator.catalog import accelerator
from simulator.models.hardware import Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.kernels import kernel_time_s
from simulator.models.workload.layout_search import (
    FULL_EVALUATIONS,
    ZERO_STAGES,
    RankedLayout,
    _candidates,
    _KernelTimes,
    _shapes,
    _step,
    best_layouts,
    fits_somehow,
    search_layouts,
)
from simulator.models.workload.memory import memory_floor_bytes, training_memory, zero_stage_memories
from simulator.models.workload.operators import layer_kernels, output_kernels
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.step_time import OperatorStepModel
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import TransformerModel

RESERVE_BYTES = 2 * 2**30


def _case(seed: int) -> tuple[TrainingStep, Network, int]:
    """A random model (dense or MoE), accelerator, batch and fat tree of 8-GPU nodes."""
    rng = random.Random(seed)
    heads = rng.choice([16, 32, 64])
    model = TransformerModel(name=f"m{seed}", layers=rng.choice([8, 24, 32, 48]), hidden=heads * 128, heads=heads,
                             vocab=32_000)
    if rng.random() < 0.3:
        model = model.model_copy(update={"experts": 8, "top_k": 2})
    acc = accelerator(rng.choice(["h100-sxm", "a100-80gb-sxm"]))
    nodes = rng.choice([1, 2, 4, 8])
    gpus = nodes * 8
    base = TrainingStep(model, acc, Precision.BF16, Parallelism(), rng.choice([4096, 8192]),
                        gpus * rng.choice([1, 2, 4]))
    network = build_network(FatTreeTopology(kind="fat_tree", radix=64), ClusterShape(nodes, 8, 450e9, 50e9, True))
    return base, network, gpus


def _exhaustive(base: TrainingStep, network: Network, gpus: int, top: int) -> list[RankedLayout]:
    """The search without shortcuts: every candidate's memory, the FULL_EVALUATIONS that fit with the least
    compute-only estimate (ties in enumeration order), all of them priced in full."""
    kernels = _KernelTimes(base)
    estimated = [(kernels.compute_only_s(shape), _step(base, shape, zero)) for shape in
                 _shapes(base, gpus, base.sequences_per_step) for zero in (1, 2, 3)]
    fitting = [(e, s, training_memory(s, RESERVE_BYTES).total_bytes) for e, s in estimated]
    fitting = [(e, s, mem) for e, s, mem in fitting if mem <= s.accelerator.hbm_bytes]
    shortlist = sorted(fitting, key=lambda item: item[0])[:FULL_EVALUATIONS]
    ranked = [RankedLayout(s, OperatorStepModel().step_time(s, network), mem) for _, s, mem in shortlist]
    return sorted(ranked, key=lambda r: r.time.total_s)[:top]


@pytest.mark.parametrize("seed", range(8))
def test_the_pruned_search_ranks_what_pricing_every_candidate_ranks(seed: int) -> None:
    base, network, gpus = _case(seed)
    for top in (1, 10):
        fast = best_layouts(base, network, gpus, RESERVE_BYTES, top)
        slow = _exhaustive(base, network, gpus, top)
        assert [(r.step, r.time, r.memory_bytes) for r in fast] == [(r.step, r.time, r.memory_bytes) for r in slow]


@pytest.mark.parametrize("seed", range(4))
def test_the_lower_bound_never_exceeds_the_full_step_time(seed: int) -> None:
    base, network, gpus = _case(seed)
    kernels = _KernelTimes(base)
    for shape in _shapes(base, gpus, base.sequences_per_step)[::5]:
        step = _step(base, shape, 3)
        assert kernels.lower_bound_s(shape) <= OperatorStepModel().step_time(step, network).total_s


@pytest.mark.parametrize("precision", [Precision.BF16, Precision.FP8])
def test_kernel_times_summed_once_per_search_are_each_layouts_own(precision: Precision) -> None:
    base, _, gpus = _case(1)
    base = TrainingStep(base.model, accelerator("h100-sxm"), precision, Parallelism(), base.seq_len, 4 * gpus)
    kernels = _KernelTimes(base)
    for shape in _shapes(base, gpus, base.sequences_per_step):
        step = _step(base, shape, 1)
        acc = step.accelerator
        layers = [layer_kernels(step, moe) for moe in (False, step.model.is_moe)]
        own = (*(sum(kernel_time_s(k, acc) for k in (*x.forward, *x.backward, *x.recompute)) for x in layers),
               sum(kernel_time_s(k, acc) for k in output_kernels(step)))
        assert kernels(shape) == own


def test_the_fitting_count_skips_no_candidate_that_fits() -> None:
    base, network, gpus = _case(2)
    _, enumerated, fitting = search_layouts(base, network, gpus, RESERVE_BYTES, top=1)
    candidates = _candidates(base, gpus, base.sequences_per_step)
    assert enumerated == len(candidates)
    assert fitting == sum(training_memory(s, RESERVE_BYTES).total_bytes <= s.accelerator.hbm_bytes
                          for s in candidates)


def _tight_case(seed: int) -> tuple[TrainingStep, int]:
    """A random Llama-style model of 8B to 400B parameters, some of it pruned, on 8 to 256 GPUs: many layouts
    do not fit."""
    rng = random.Random(seed)
    model = llama_style_model(rng.choice([8e9, 70e9, 400e9]))
    gpus = rng.choice([8, 32, 256])
    base = TrainingStep(model, accelerator(rng.choice(["h100-sxm", "a100-80gb-sxm"])), Precision.BF16,
                        Parallelism(), 8192, gpus * rng.choice([1, 4]), pruned_fraction=rng.choice([0.0, 0.3]))
    return base, gpus


@pytest.mark.parametrize("seed", range(10))
def test_the_memory_floor_never_exceeds_any_zero_stages_memory(seed: int) -> None:
    for base, gpus in (_case(seed)[::2], _tight_case(seed)):
        for step in _candidates(base, gpus, base.sequences_per_step)[::2]:
            assert memory_floor_bytes(step, RESERVE_BYTES) <= training_memory(step, RESERVE_BYTES).total_bytes


@pytest.mark.parametrize("seed", range(10))
def test_layouts_that_fit_and_whether_any_does_are_those_of_sizing_every_candidate(seed: int) -> None:
    base, gpus = _tight_case(seed)
    candidates = _candidates(base, gpus, base.sequences_per_step)
    fit = [s for s in candidates if training_memory(s, RESERVE_BYTES).total_bytes <= s.accelerator.hbm_bytes]
    _, _, fitting = search_layouts(base, build_network(FatTreeTopology(kind="fat_tree", radix=64),
                                                       ClusterShape(gpus // 8, 8, 450e9, 50e9, True)),
                                   gpus, RESERVE_BYTES, top=1)
    assert fitting == len(fit)
    assert fits_somehow(base, gpus, RESERVE_BYTES) == any(s.layout.zero_stage == 3 for s in fit)


def test_the_memory_floor_rejects_layouts_of_a_model_too_big_for_its_gpus() -> None:
    base = replace(_tight_case(0)[0], model=llama_style_model(400e9))
    steps = _candidates(base, 32, base.sequences_per_step)
    assert all(memory_floor_bytes(s, RESERVE_BYTES) > s.accelerator.hbm_bytes for s in steps)


@pytest.mark.parametrize("seed", range(6))
def test_memories_of_all_zero_stages_at_once_are_each_stages_own(seed: int) -> None:
    base, _, gpus = _case(seed)
    for shape in _shapes(base, gpus, base.sequences_per_step)[::3]:
        together = zero_stage_memories(_step(base, shape, 3), RESERVE_BYTES, ZERO_STAGES)
        assert together == [training_memory(_step(base, shape, zero), RESERVE_BYTES) for zero in ZERO_STAGES]


@pytest.mark.parametrize("seed", range(12))
def test_compute_only_estimates_at_once_are_each_shapes_own(seed: int) -> None:
    base, _, gpus = _case(seed)
    kernels = _KernelTimes(base)
    shapes = _shapes(base, gpus, base.sequences_per_step)
    assert kernels.compute_only_estimates_s(shapes) == [kernels.compute_only_s(shape) for shape in shapes]


@pytest.mark.parametrize("seed", range(6))
def test_busiest_stage_seconds_remembered_per_search_are_each_shapes_own(seed: int) -> None:
    base, _, gpus = _case(seed)
    shared = _KernelTimes(base)
    for shape in _shapes(base, gpus, base.sequences_per_step)[::2]:
        assert shared.compute_only_s(shape) == _KernelTimes(base).compute_only_s(shape)


def test_compute_only_estimates_at_once_on_deep_pipelines_of_a_large_reference_step() -> None:
    """Up to 128 stages, so numpy's sums run over blocks of the 127 other stages' slots."""
    base = TrainingStep(llama_style_model(8.6e11), accelerator("h100-sxm"), Precision.BF16, Parallelism(), 8192,
                        16_384)
    kernels = _KernelTimes(base)
    shapes = _shapes(base, 16_384, base.sequences_per_step)
    assert max(shape.pp for shape in shapes) == 128
    assert kernels.compute_only_estimates_s(shapes) == [kernels.compute_only_s(shape) for shape in shapes]
