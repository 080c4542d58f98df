"""Model shapes from a parameter budget: the Llama-3 family's proportions scaled to any size, for the
scaling-law planner and for MFU estimates of models that exist only as a parameter count."""

from __future__ import annotations

import functools
import math

from simulator.models.workload.transformer import MlpKind, NormKind, PositionKind, TransformerModel, parameter_counts
from simulator.units import format_count

HEAD_DIM = 128
KV_HEADS = 8
FFN_RATIO = 3.5
VOCAB = 128_256
SEQ_LEN = 8192
ASPECT_RATIO = 128.0
HIDDEN_STEP = HEAD_DIM * KV_HEADS  # heads = hidden/128 must be a multiple of kv_heads (and of tp = 8)
PARAMS_TOLERANCE = 0.05


def _llama(name: str, hidden: int, layers: int) -> TransformerModel:
    return TransformerModel(
        name=name, family="llama3-style", layers=layers, hidden=hidden, heads=hidden // HEAD_DIM, kv_heads=KV_HEADS,
        ffn_hidden=round(FFN_RATIO * hidden / 256) * 256, vocab=VOCAB, mlp=MlpKind.SWIGLU, norm=NormKind.RMSNORM,
        bias=False, position=PositionKind.ROPE, tied_embeddings=False, max_seq_len=SEQ_LEN,
    )


@functools.cache
def llama_style_model(params: float) -> TransformerModel:
    """A Llama-3-style dense model whose exact parameter count is within 5 % of `params` (remembered: the
    planners ask for the same sizes again and again).

    For each hidden size that is a multiple of 1,024 (so heads = hidden/128 is a multiple of the 8 KV heads
    and of TP 8), the layer count that comes closest to `params`; of those within 5 %, the one whose
    hidden/layers is closest (in log) to 128.
    """
    best: tuple[float, int, int] | None = None
    for hidden in range(HIDDEN_STEP, 1 << 18, HIDDEN_STEP):
        one = parameter_counts(_llama("probe", hidden, 1)).total
        per_layer = parameter_counts(_llama("probe", hidden, 2)).total - one
        base = one - per_layer
        if base >= params * (1 + PARAMS_TOLERANCE):
            break
        layers = min(4096, max(1, round((params - base) / per_layer)))
        error = abs(base + layers * per_layer - params) / params
        if error <= PARAMS_TOLERANCE:
            score = abs(math.log(hidden / layers / ASPECT_RATIO))
            if best is None or score < best[0]:
                best = (score, hidden, layers)
    if best is None:
        raise ValueError(
            f"{format_count(params)} parameters is too small for a Llama-3-style model with a {VOCAB:,}-token "
            f"vocabulary (its embeddings alone are {format_count(2 * VOCAB * HIDDEN_STEP)} at hidden "
            f"{HIDDEN_STEP}); plan a larger model to write a scenario"
        )
    _, hidden, layers = best
    total = parameter_counts(_llama("probe", hidden, layers)).total
    return _llama(f"chinchilla-{format_count(total)}", hidden, layers)
