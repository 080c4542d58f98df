"""simulator/models/workload/transformer.py against closed forms from the literature and published model sizes."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.catalog import model
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.transformer import (
    TransformerModel,
    forward_flops_per_token,
    parameter_counts,
    training_flops_per_token,
)
from tests.conftest import data_file

V, S = 51200, 2048  # Megatron GPT vocabulary and sequence length (Narayanan et al. 2021, Table 1)

# Narayanan et al., "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM", SC'21
# (arXiv 2104.04473), Table 1 (also tests/data/reference/training_throughput.yaml): (published params, heads a,
# hidden h, layers l).
MEGATRON_ROWS: list[tuple[float, int, int, int]] = [
    (1.7e9, 24, 2304, 24),
    (7.5e9, 32, 4096, 36),
    (39.1e9, 64, 8192, 48),
    (145.6e9, 96, 12288, 80),
    (529.6e9, 128, 20480, 105),
]
ROW_IDS = [f"megatron-{p / 1e9:g}b" for p, *_ in MEGATRON_ROWS]


def narayanan_params(n_layers: int, h: int, vocab: int = V, s: int = S) -> float:
    return 12 * n_layers * h**2 * (1 + 13 / (12 * h) + (vocab + s) / (12 * n_layers * h))


def narayanan_flops(batch: int, n_layers: int, h: int, vocab: int = V, s: int = S) -> float:
    """Megatron FLOPs per iteration with full activation recompute (4 passes)."""
    return 96 * batch * s * n_layers * h**2 * (1 + s / (6 * h) + vocab / (16 * n_layers * h))


def gpt(n_layers: int, h: int, a: int, vocab: int = V, s: int = S) -> TransformerModel:
    return TransformerModel(name=f"gpt-{n_layers}x{h}", layers=n_layers, hidden=h, heads=a, vocab=vocab,
                            max_seq_len=s)


# --- Narayanan closed form ------------------------------------------------------------------------------


@pytest.mark.parametrize(("published", "a", "h", "n_layers"), MEGATRON_ROWS, ids=ROW_IDS)
def test_closed_form_reproduces_published_counts(published: float, a: int, h: int, n_layers: int) -> None:
    # Table 1 rounds; the worst row is megatron-1.7b (1.652B, -2.8 %), the rest are within 0.5 %.
    assert narayanan_params(n_layers, h) == pytest.approx(published, rel=0.03)


def test_worst_closed_form_row_is_the_smallest_model() -> None:
    errors = {
        row: abs(narayanan_params(n_layers, h) / p - 1)
        for row, (p, _, h, n_layers) in zip(ROW_IDS, MEGATRON_ROWS, strict=True)
    }
    assert max(errors, key=errors.__getitem__) == "megatron-1.7b"
    assert 0.02 < errors["megatron-1.7b"] < 0.03


def _shared_rows() -> list[dict[str, Any]]:
    data = yaml.safe_load(data_file("reference", "training_throughput.yaml").read_text(encoding="utf-8"))
    return [c for c in data["cases"] if c["id"] in ROW_IDS]


def test_shared_reference_rows_match_the_in_test_copy_and_the_closed_form() -> None:
    rows = _shared_rows()
    assert len(rows) == 5
    copy = dict(zip(ROW_IDS, MEGATRON_ROWS, strict=True))
    for case in rows:
        m, src = case["model"], case["source"]
        assert (m["params_b"] * 1e9, m["heads"], m["hidden"], m["layers"]) == pytest.approx(copy[case["id"]])
        assert (src["vocab"], src["seq_len"]) == (V, S)
        p = narayanan_params(m["layers"], m["hidden"], src["vocab"], src["seq_len"])
        assert p == pytest.approx(m["params_b"] * 1e9, rel=0.03), case["id"]


@pytest.mark.parametrize(("published", "a", "h", "n_layers"), MEGATRON_ROWS, ids=ROW_IDS)
def test_parameter_counts_equal_closed_form_plus_final_layernorm(
    published: float, a: int, h: int, n_layers: int
) -> None:
    counts = parameter_counts(gpt(n_layers, h, a))
    closed = narayanan_params(n_layers, h)
    assert counts.total == pytest.approx(closed, rel=1e-4)
    assert counts.total - closed == pytest.approx(2 * h, abs=1e-3 * h)  # the final layernorm, weight + bias
    assert counts.active == counts.total
    assert counts.embedding == (V + S) * h  # tied output layer, learned positions


# --- Megatron FLOPs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("published", "a", "h", "n_layers"), MEGATRON_ROWS, ids=ROW_IDS)
@pytest.mark.parametrize("batch", [1, 512])
def test_forward_flops_match_megatron_iteration_flops(
    published: float, a: int, h: int, n_layers: int, batch: int
) -> None:
    """Narayanan's F counts 4 passes of the transformer layers (forward, recompute, 2x backward) but only
    3 of the logit layer (the output GEMM is not recomputed). So F = B*s*(4*fwd - 2*V*h) up to bias and
    norm terms, and 4/3 of the 3-pass model FLOPs exceeds F by exactly that logit recompute, 2*B*s*V*h."""
    m = gpt(n_layers, h, a)
    fwd = forward_flops_per_token(m, S)
    f = narayanan_flops(batch, n_layers, h)
    four_passes = 4 / 3 * 3 * fwd * batch * S
    logit_recompute = 2 * batch * S * V * h
    assert four_passes - logit_recompute == pytest.approx(f, rel=1e-3)
    # the per-token forward is 24lh^2 + 4lsh + 2Vh up to biases and norms
    assert fwd == pytest.approx(24 * n_layers * h**2 + 4 * n_layers * S * h + 2 * V * h, rel=1e-3)
    assert training_flops_per_token(m, S) == 3 * fwd


def test_forward_flops_attention_term_is_linear_in_seq_len() -> None:
    m = gpt(24, 2304, 24)
    slope = forward_flops_per_token(m, 1) - forward_flops_per_token(m, 0)
    assert slope == 4 * m.layers * m.hidden
    assert forward_flops_per_token(m, 0) == 2 * (parameter_counts(m).total - (V + S) * m.hidden + V * m.hidden)


# --- Llama / GQA / SwiGLU / MoE / MLA ------------------------------------------------------------------


def test_llama31_8b() -> None:
    counts = parameter_counts(model("llama3.1-8b"))
    assert counts.total == pytest.approx(8.03e9, rel=0.005)
    assert counts.active == counts.total


def test_llama31_8b_by_hand() -> None:
    # GQA: q and o are h x h, k and v are h x (8 * 128); SwiGLU: 3 x h x f; two RMSNorms; untied embeddings.
    h, f, kv, vocab, layers = 4096, 14336, 8 * 128, 128256, 32
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * f + 2 * h
    assert parameter_counts(model("llama3.1-8b")).total == layers * per_layer + 2 * vocab * h + h


def test_mixtral_8x7b() -> None:
    counts = parameter_counts(model("mixtral-8x7b"))
    assert counts.total == pytest.approx(46.7e9, rel=0.01)
    assert counts.active == pytest.approx(12.9e9, rel=0.01)


def test_deepseek_v3() -> None:
    counts = parameter_counts(model("deepseek-v3"))
    assert counts.total == pytest.approx(671e9, rel=0.01)
    assert counts.active == pytest.approx(37e9, rel=0.03)


@pytest.mark.parametrize("name", ["gpt3-175b", "llama2-70b", "llama3.1-405b", "megatron-7.5b"])
def test_dense_models_active_equals_total(name: str) -> None:
    counts = parameter_counts(model(name))
    assert counts.active == counts.total
    assert counts.routed_experts == 0


def test_moe_forward_flops_follow_active_not_total_parameters() -> None:
    m = model("mixtral-8x7b")
    counts = parameter_counts(m)
    assert forward_flops_per_token(m, 0) == 2 * (counts.active - counts.embedding + m.vocab * m.hidden)
    assert forward_flops_per_token(m, 0) < 2 * counts.total * 0.5


# --- validation -----------------------------------------------------------------------------------------


BASE: dict[str, Any] = {"name": "t", "layers": 2, "hidden": 64, "heads": 4, "vocab": 100}


@pytest.mark.parametrize(
    "overrides",
    [
        {"hidden": 100, "heads": 3},  # not divisible, no head_dim
        {"heads": 8, "kv_heads": 3},  # heads not a multiple of kv_heads
        {"heads": 4, "kv_heads": 8},
        {"experts": 4, "top_k": 5},  # top_k > experts
        {"experts": 4, "top_k": 0},
        {"top_k": 2},  # top_k without experts
        {"shared_experts": 1},
        {"dense_layers": 1},
        {"experts": 4, "top_k": 2, "dense_layers": 2},  # no MoE layer left
        {"layers": 0},
        {"unknown_key": 1},
    ],
)
def test_invalid_shapes_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TransformerModel(**{**BASE, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [{}, {"hidden": 100, "heads": 3, "head_dim": 32}, {"heads": 8, "kv_heads": 2}, {"experts": 4, "top_k": 4}],
)
def test_valid_shapes_are_accepted(overrides: dict[str, Any]) -> None:
    TransformerModel(**{**BASE, **overrides})


# --- properties -----------------------------------------------------------------------------------------

GPT_SHAPES = st.builds(
    lambda layers, heads, head_size, vocab: {"layers": layers, "heads": heads, "hidden": heads * head_size,
                                             "vocab": vocab},
    layers=st.integers(1, 64),
    heads=st.integers(1, 64),
    head_size=st.integers(16, 256),
    vocab=st.integers(100, 200_000),
)


@settings(max_examples=60, deadline=None)
@given(shape=GPT_SHAPES)
def test_parameters_grow_strictly_with_layers(shape: dict[str, int]) -> None:
    fewer = parameter_counts(TransformerModel(name="a", **shape))
    more = parameter_counts(TransformerModel(name="b", **{**shape, "layers": shape["layers"] + 1}))
    assert more.total > fewer.total
    assert more.active > fewer.active
    assert math.isclose(more.total - fewer.total, 12 * shape["hidden"] ** 2 + 13 * shape["hidden"])


@settings(max_examples=60, deadline=None)
@given(shape=GPT_SHAPES, s1=st.integers(0, 1 << 17), ds=st.integers(1, 1 << 17))
def test_forward_flops_grow_strictly_with_seq_len(shape: dict[str, int], s1: int, ds: int) -> None:
    m = TransformerModel(name="a", **shape)
    assert forward_flops_per_token(m, s1 + ds) > forward_flops_per_token(m, s1)


@settings(max_examples=20, deadline=None)
@given(st.floats(min_value=1e9, max_value=1e13))
def test_cached_shapes_and_counts_equal_fresh_ones(params: float) -> None:
    """llama_style_model and parameter_counts remember their answers: the same as computing them afresh."""
    model = llama_style_model(params)
    assert llama_style_model(params) is model
    assert model == llama_style_model.__wrapped__(params)
    assert parameter_counts(model) == parameter_counts.__wrapped__(model)
