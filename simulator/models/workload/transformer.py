"""Transformer model specification and its exact arithmetic: parameters (total and active) and FLOPs per token.

Covers GPT-style (learned positions, GELU MLP, biases), Llama-style (RoPE, SwiGLU, GQA, RMSNorm), mixture-
of-experts (routed and shared experts, leading dense layers) and DeepSeek's multi-head latent attention.
Parameters are counted matrix by matrix, so they reproduce Narayanan et al. 2021's closed form for GPT
shapes; model FLOPs follow the same convention (2 FLOPs per multiply-add, attention scores not halved
for causality), so MFU is comparable with published figures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field, model_validator

from simulator.base import Strict
from simulator.models.hardware import SourceStatus
from simulator.units import Count


class MlpKind(StrEnum):
    """Feed-forward block: two matrices with GELU, or three with SwiGLU (gate, up, down)."""

    GELU = "gelu"
    SWIGLU = "swiglu"


class NormKind(StrEnum):
    """LayerNorm has a weight and a bias per channel; RMSNorm a weight only."""

    LAYERNORM = "layernorm"
    RMSNORM = "rmsnorm"


class PositionKind(StrEnum):
    """Learned position embeddings add max_seq_len x hidden parameters; RoPE adds none."""

    LEARNED = "learned"
    ROPE = "rope"


class LatentAttention(Strict):
    """DeepSeek-V2/V3 multi-head latent attention: low-rank Q and joint low-rank K/V projections."""

    q_lora_rank: int | None = Field(None, gt=0, le=1 << 17, description="rank of the Q down-projection")
    kv_lora_rank: int = Field(gt=0, le=1 << 17, description="rank of the joint K/V latent")
    qk_nope_head_dim: int = Field(gt=0, le=4096, description="per-head Q/K size without rotary part")
    qk_rope_head_dim: int = Field(ge=0, le=4096, description="per-head rotary Q/K size")
    v_head_dim: int = Field(gt=0, le=4096, description="per-head V size")


class TransformerModel(Strict):
    """A decoder-only transformer: shape plus provenance. Sizes are counts of channels, not bytes."""

    name: str = Field(min_length=1, description="identifier, e.g. llama-3.1-70b")
    base: str | None = Field(None, description="catalog entry this one modifies (inline entries)")
    family: str = Field("custom", description="model family, e.g. gpt3, llama3")
    layers: int = Field(gt=0, le=4096, description="transformer blocks")
    hidden: int = Field(gt=0, le=1 << 20, description="model width d_model")
    heads: int = Field(gt=0, le=1 << 14, description="attention (query) heads")
    kv_heads: int | None = Field(None, gt=0, le=1 << 14, description="key/value heads (GQA); default = heads")
    head_dim: int | None = Field(None, gt=0, le=1 << 14, description="per-head size; default hidden/heads")
    ffn_hidden: int | None = Field(None, gt=0, le=1 << 22, description="MLP inner size; default 4*hidden")
    vocab: int = Field(gt=0, le=1 << 24, description="vocabulary size")
    mlp: MlpKind = Field(MlpKind.GELU, description="gelu (2 matrices) or swiglu (3 matrices)")
    norm: NormKind = Field(NormKind.LAYERNORM, description="layernorm or rmsnorm")
    bias: bool = Field(True, description="linear layers carry biases (GPT-2/3 yes, Llama no)")
    position: PositionKind = Field(PositionKind.LEARNED, description="learned or rope")
    max_seq_len: int = Field(2048, gt=0, le=1 << 24, description="context length (learned positions)")
    tied_embeddings: bool = Field(True, description="output layer shares the input embedding matrix")
    dropout: bool = Field(
        False, description="trained with hidden and attention dropout (GPT-2/3 and Megatron-LM's GPT recipe; "
        "not Llama, Mixtral or DeepSeek): dropout masks are stored and dropout kernels run",
    )
    experts: int = Field(0, ge=0, le=1 << 16, description="routed experts per MoE layer; 0 = dense model")
    top_k: int = Field(0, ge=0, le=1 << 10, description="routed experts each token visits")
    shared_experts: int = Field(0, ge=0, le=64, description="always-active experts per MoE layer")
    expert_ffn_hidden: int | None = Field(None, gt=0, le=1 << 22, description="expert MLP inner size")
    dense_layers: int = Field(0, ge=0, description="leading layers with a dense MLP in an MoE model")
    routing_max_nodes: int | None = Field(
        None, ge=1, le=4096,
        description="node-limited routing: each token's experts lie on at most this many scale-up domains, and "
        "it crosses the scale-out network once per domain (DeepSeek-V3: 4)",
    )
    latent_attention: LatentAttention | None = Field(None, description="DeepSeek MLA shape, if used")
    published_params: Count | None = Field(None, gt=0, description="total parameters as published")
    published_active_params: Count | None = Field(None, gt=0, description="active parameters as published")
    status: SourceStatus = Field(SourceStatus.USER, description="how far the figures are confirmed")
    sources: tuple[str, ...] = Field((), description="where the shape comes from")
    note: str = Field("", description="caveats")

    @model_validator(mode="after")
    def _consistent(self) -> TransformerModel:
        if self.head_dim is None and self.latent_attention is None and self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}; give head_dim")
        if self.heads % self.kv_heads_:
            raise ValueError(f"heads {self.heads} must be a multiple of kv_heads {self.kv_heads_}")
        if self.experts:
            if not 0 < self.top_k <= self.experts:
                raise ValueError(f"top_k must be between 1 and experts ({self.experts}), got {self.top_k}")
            if self.dense_layers >= self.layers:
                raise ValueError("dense_layers must be fewer than layers in an MoE model")
        elif self.top_k or self.shared_experts or self.dense_layers:
            raise ValueError("top_k, shared_experts and dense_layers need experts > 0")
        return self

    @property
    def kv_heads_(self) -> int:
        """Key/value heads, defaulting to the query heads (plain multi-head attention)."""
        return self.kv_heads or self.heads

    @property
    def head_dim_(self) -> int:
        """Per-head size, defaulting to hidden / heads."""
        return self.head_dim or self.hidden // self.heads

    @property
    def ffn_hidden_(self) -> int:
        """Dense MLP inner size, defaulting to 4 x hidden."""
        return self.ffn_hidden or 4 * self.hidden

    @property
    def expert_ffn_hidden_(self) -> int:
        """Expert MLP inner size, defaulting to the dense one."""
        return self.expert_ffn_hidden or self.ffn_hidden_

    @property
    def is_moe(self) -> bool:
        """Whether any layer routes tokens to experts."""
        return self.experts > 0


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters of a model, split the way memory and compute need them."""

    total: float  # every weight held in memory
    active: float  # weights a token passes through (equal to total for dense models)
    embedding: float  # input embedding plus untied output layer plus learned positions
    per_layer_total: float  # mean over layers
    attention_per_layer: float
    routed_experts: float  # weights of all routed experts (what expert parallelism shards), 0 if dense

    @property
    def non_embedding(self) -> float:
        """Total minus embeddings (Kaplan's N)."""
        return self.total - self.embedding


def norm_params(m: TransformerModel, width: int) -> int:
    """Weights of one norm over `width` features (scale, and bias for LayerNorm)."""
    return width * (2 if m.norm is NormKind.LAYERNORM else 1)


def attention_params(m: TransformerModel) -> int:
    """Q, K, V, output projections (and biases / MLA norms) of one layer."""
    h = m.hidden
    mla = m.latent_attention
    if mla is not None:
        qk_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim
        if mla.q_lora_rank is None:
            q = h * m.heads * qk_dim
        else:
            q = h * mla.q_lora_rank + norm_params(m, mla.q_lora_rank) + mla.q_lora_rank * m.heads * qk_dim
        kv = (
            h * (mla.kv_lora_rank + mla.qk_rope_head_dim)
            + norm_params(m, mla.kv_lora_rank)
            + mla.kv_lora_rank * m.heads * (mla.qk_nope_head_dim + mla.v_head_dim)
        )
        return q + kv + m.heads * mla.v_head_dim * h
    q_dim = m.heads * m.head_dim_
    kv_dim = m.kv_heads_ * m.head_dim_
    weights = h * (q_dim + 2 * kv_dim) + q_dim * h
    biases = (q_dim + 2 * kv_dim + h) if m.bias else 0
    return weights + biases


def mlp_params(m: TransformerModel, inner: int) -> int:
    """One feed-forward block of inner size `inner` (a dense MLP or one expert)."""
    matrices = 3 if m.mlp is MlpKind.SWIGLU else 2
    biases = (inner * (matrices - 1) + m.hidden) if m.bias else 0
    return matrices * m.hidden * inner + biases


@functools.lru_cache(maxsize=256)
def parameter_counts(m: TransformerModel) -> ParameterCounts:
    """Exact parameter counts, total and active per token (remembered for the last models asked: the step and
    memory models ask for them once per candidate layout)."""
    h = m.hidden
    attn = attention_params(m)
    norms = 2 * norm_params(m, h)
    dense_layer = attn + mlp_params(m, m.ffn_hidden_) + norms
    embedding = m.vocab * h * (1 if m.tied_embeddings else 2)
    if m.position is PositionKind.LEARNED:
        embedding += m.max_seq_len * h
    final_norm = norm_params(m, h)
    if not m.is_moe:
        total = m.layers * dense_layer + embedding + final_norm
        return ParameterCounts(total, total, embedding, dense_layer, attn, 0.0)
    expert = mlp_params(m, m.expert_ffn_hidden_)
    router = h * m.experts
    moe_block_total = router + (m.experts + m.shared_experts) * expert
    moe_block_active = router + (m.top_k + m.shared_experts) * expert
    moe_layers = m.layers - m.dense_layers
    common = m.dense_layers * dense_layer + moe_layers * (attn + norms) + embedding + final_norm
    total = common + moe_layers * moe_block_total
    active = common + moe_layers * moe_block_active
    routed = moe_layers * m.experts * expert
    return ParameterCounts(total, active, embedding, (total - embedding) / m.layers, attn, routed)


def forward_flops_per_token(m: TransformerModel, seq_len: int) -> float:
    """Model FLOPs of one token's forward pass at context `seq_len`: 2 per active matmul weight plus the
    attention score and value products (4 * seq_len * attention width per layer, not halved for the
    causal mask, the Megatron/PaLM convention)."""
    counts = parameter_counts(m)
    # Embedding lookups are not matmuls; the output layer (tied or not) is one of vocab x hidden.
    matmul_weights = counts.active - counts.embedding + m.vocab * m.hidden
    mla = m.latent_attention
    if mla is not None:
        score_width = m.heads * (mla.qk_nope_head_dim + mla.qk_rope_head_dim)
        value_width = m.heads * mla.v_head_dim
    else:
        score_width = value_width = m.heads * m.head_dim_
    attention = 2 * seq_len * (score_width + value_width) * m.layers
    return 2.0 * matmul_weights + attention


def training_flops_per_token(m: TransformerModel, seq_len: int) -> float:
    """Model FLOPs per trained token: forward plus a backward pass that costs twice the forward."""
    return 3.0 * forward_flops_per_token(m, seq_len)
