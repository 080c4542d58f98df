"""Parallel layouts and their placement (simulator/models/workload/parallelism.py, topology/placement.py and the
layout enumeration of workload/layout_search.py): every communicator partitions the GPUs, ranks follow the
stated order, a mapping never uses a GPU twice, and every enumerated layout multiplies to the world size."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.catalog import accelerator
from simulator.models.hardware import Precision
from simulator.models.topology.placement import (
    DEFAULT_ORDER,
    communicators,
    expert_groups,
    parallel_groups,
    stage_boundaries,
)
from simulator.models.workload.layout_search import _candidates
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import TransformerModel

DIMENSIONS = ("tp", "cp", "pp", "dp")
DEGREES = st.fixed_dictionaries({name: st.integers(1, 4) for name in DIMENSIONS})
ORDERS = st.permutations(DIMENSIONS).map(tuple)


def coordinates(rank: int, degrees: dict[str, int], order: tuple[str, ...]) -> dict[str, int]:
    """A rank's index along each dimension: mixed radix, the first name of `order` fastest."""
    result = {}
    for name in order:
        rank, result[name] = divmod(rank, degrees[name])
    return result


# --- the layout itself -------------------------------------------------------------------------------------------


def test_world_and_degrees() -> None:
    layout = Parallelism(tp=8, cp=2, pp=4, dp=16, ep=4)
    assert layout.world == 8 * 2 * 4 * 16  # ep lives inside dp: it adds no GPUs
    assert layout.degrees == {"tp": 8, "cp": 2, "pp": 4, "dp": 16}
    default = Parallelism()
    assert (default.world, default.zero_stage, default.activation_recompute) == (1, 1, Recompute.SELECTIVE)
    assert default.placement == DEFAULT_ORDER and default.sequence_parallel


@pytest.mark.parametrize(("fields", "message"), [
    ({"tp": 0}, "greater than or equal to 1"),
    ({"zero_stage": 4}, "less than or equal to 3"),
    ({"placement": ["tp", "tp", "pp", "dp"]}, "must list tp, cp, pp and dp once each"),
    ({"placement": ["tp", "cp", "pp", "ep"]}, "must list tp, cp, pp and dp once each"),
    ({"activation_recompute": "some"}, "activation_recompute"),
    ({"dq": 2}, "Extra inputs are not permitted"),
])
def test_bad_layouts_are_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Parallelism.model_validate(fields)


# --- placement --------------------------------------------------------------------------------------------------


def test_megatron_order_by_hand() -> None:
    groups = parallel_groups({"tp": 2, "cp": 1, "pp": 2, "dp": 2})
    assert groups["tp"].tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert groups["pp"].tolist() == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert groups["dp"].tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert groups["cp"].tolist() == [[g] for g in range(8)]


def test_another_order_puts_data_parallel_ranks_side_by_side() -> None:
    groups = parallel_groups({"tp": 2, "cp": 1, "pp": 1, "dp": 4}, order=("dp", "tp", "cp", "pp"))
    assert groups["dp"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert groups["tp"].tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]


@settings(max_examples=100, deadline=None)
@given(degrees=DEGREES, order=ORDERS, data=st.data())
def test_communicators_partition_the_gpus_along_their_dimensions(degrees: dict[str, int], order: tuple[str, ...],
                                                                 data: st.DataObject) -> None:
    world = math.prod(degrees.values())
    names = tuple(data.draw(st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=4, unique=True)))
    groups = communicators(degrees, names, order)
    size = math.prod(degrees[n] for n in names)
    assert groups.shape == (world // size, size)
    assert sorted(groups.ravel().tolist()) == list(range(world))  # every GPU in exactly one group
    for row in groups.tolist():
        coords = [coordinates(rank, degrees, order) for rank in row]
        others = {tuple(c[n] for n in DIMENSIONS if n not in names) for c in coords}
        assert len(others) == 1  # a group varies only along its own dimensions
        for position, c in enumerate(coords):  # ... in rank order, the first name fastest
            assert coordinates(position, degrees, names) == {n: c[n] for n in names}


@settings(max_examples=50, deadline=None)
@given(degrees=DEGREES, order=ORDERS, seed=st.integers(0, 2**32 - 1))
def test_a_gpu_mapping_relabels_groups_and_never_uses_a_gpu_twice(degrees: dict[str, int], order: tuple[str, ...],
                                                                  seed: int) -> None:
    world = math.prod(degrees.values())
    gpus = np.random.default_rng(seed).choice(4 * world, size=world, replace=False)
    plain, mapped = parallel_groups(degrees, order), parallel_groups(degrees, order, gpus)
    for name in DIMENSIONS:
        assert np.array_equal(mapped[name], gpus[plain[name]])
        assert np.unique(mapped[name]).size == world


@settings(max_examples=50, deadline=None)
@given(degrees=DEGREES, order=ORDERS)
def test_groups_of_two_dimensions_share_at_most_one_gpu(degrees: dict[str, int], order: tuple[str, ...]) -> None:
    groups = parallel_groups(degrees, order)
    for a, b in itertools.combinations(DIMENSIONS, 2):
        for row_a in groups[a].tolist():
            for row_b in groups[b].tolist():
                assert len(set(row_a) & set(row_b)) <= 1


def test_placement_errors() -> None:
    with pytest.raises(ValueError, match="must name each of"):
        communicators({"tp": 2, "dp": 2}, ("tp",), order=("tp", "pp"))
    with pytest.raises(ValueError, match="3 GPUs given for a layout of 4"):
        communicators({"tp": 2, "dp": 2}, ("tp",), order=("tp", "dp"), gpus=np.arange(3))


def test_stage_boundaries_pair_consecutive_stages() -> None:
    pp = np.array([[0, 2, 4], [1, 3, 5]])
    senders, receivers = stage_boundaries(pp)
    assert senders.tolist() == [0, 2, 1, 3] and receivers.tolist() == [2, 4, 3, 5]


def test_expert_groups_by_hand() -> None:
    ep, edp = expert_groups(np.array([[0, 1, 2, 3, 4, 5, 6, 7]]), 2)
    assert ep.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert edp.tolist() == [[0, 2, 4, 6], [1, 3, 5, 7]]


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(1, 4), ep=st.sampled_from([1, 2, 4]), blocks=st.integers(1, 4))
def test_expert_groups_partition_each_data_parallel_group(rows: int, ep: int, blocks: int) -> None:
    dp = ep * blocks
    dp_groups = np.arange(rows * dp).reshape(rows, dp)
    ep_groups, edp_groups = expert_groups(dp_groups, ep)
    assert ep_groups.shape == (rows * blocks, ep) and edp_groups.shape == (rows * ep, blocks)
    for groups in (ep_groups, edp_groups):
        assert sorted(groups.ravel().tolist()) == list(range(rows * dp))
        assert all(len({g // dp for g in row}) == 1 for row in groups.tolist())  # inside one DP group
    for a in ep_groups.tolist():  # an expert group and an expert-data group meet in exactly one GPU or none
        for b in edp_groups.tolist():
            assert len(set(a) & set(b)) <= 1


# --- the layouts the search enumerates ----------------------------------------------------------------------------

DENSE = TransformerModel(name="dense", layers=32, hidden=4096, heads=32, vocab=32_000)


def base_step(model: TransformerModel = DENSE, seq_len: int = 4096) -> TrainingStep:
    return TrainingStep(model, accelerator("h100-sxm"), Precision.BF16, Parallelism(), seq_len, 1)


def test_the_layouts_of_eight_gpus_counted_by_hand() -> None:
    # (tp, pp) with tp x pp dividing 8: 10 pairs; micro-batch sizes 1/2/4 that divide the 8 sequences over dp;
    # 4 schedules when pp > 1 (1F1B, interleaved with 2 and 4 chunks: 32 layers allow every pp x v, zero
    # bubble): 77 in all; then 2 recompute modes x 3 ZeRO stages
    found = _candidates(base_step(), 8, 8)
    assert len(found) == 77 * 6
    assert len({s.layout for s in found}) == len(found)


@pytest.mark.parametrize(("gpus", "sequences", "seq_len", "moe"), [(8, 8, 4096, False), (64, 256, 8192, False),
                                                                   (32, 64, 16384, False), (64, 128, 4096, True)])
def test_every_enumerated_layout_fills_the_gpus_and_the_batch(gpus: int, sequences: int, seq_len: int,
                                                              moe: bool) -> None:
    model = DENSE
    if moe:
        model = DENSE.model_copy(update={"name": "moe", "experts": 8, "top_k": 2})
    found = _candidates(base_step(model, seq_len), gpus, sequences)
    assert found
    for step in found:
        lay = step.layout
        assert lay.world == gpus
        assert step.sequences_per_step == sequences and step.tokens_per_step == sequences * seq_len
        assert model.heads % lay.tp == 0 and seq_len % lay.cp == 0 and lay.dp % lay.ep == 0
        assert lay.virtual_stages == 1 or model.layers % (lay.pp * lay.virtual_stages) == 0
        assert model.experts % lay.ep == 0 if model.is_moe else lay.ep == 1
    assert any(s.layout.ep > 1 for s in found) == moe


def test_a_batch_of_three_sequences_leaves_one_replica() -> None:
    # dp must divide 3 and leave tp x pp = 8: dp 1 with (tp, pp) = (1, 8), (2, 4), (4, 2), (8, 1); micro-batches
    # of one sequence; 4 schedules where pp > 1: 13 layouts, times 2 recompute modes x 3 ZeRO stages
    found = _candidates(base_step(), 8, 3)
    assert all(s.layout.dp == 1 and s.layout.micro_batch_size == 1 and s.micro_batches == 3 for s in found)
    assert len(found) == 13 * 6
