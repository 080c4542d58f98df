"""What one serving replica may hold, as its scheduler sees it every iteration (compiled with the serving
engine, see setup.py, so that reading a limit is a field access)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicaLimits:
    """Scheduler limits of one replica: running sequences, tokens per iteration, KV-cache blocks."""

    max_batch: int
    max_num_tokens: int
    kv_blocks: int
    block_tokens: int
    # reserve a request's whole output at admission, so nothing is ever preempted (TensorRT-LLM's default
    # "guaranteed no evict"); otherwise blocks are taken as tokens are generated and a shortage preempts (vLLM)
    reserve_output: bool = False
    # preemption by swap instead of recompute: a victim's KV cache goes to host memory and back, at this many
    # seconds per cached token each way (KV bytes per token over the host link); 0 means recompute
    swap_s_per_token: float = 0.0
    # shared prompt prefixes a replica keeps cached (LRU), in blocks set aside from kv_blocks; 0: no caching
    prefix_slots: int = 0
