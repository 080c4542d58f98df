"""What the serving engine keeps per request while it is served (`Seq`) and what one simulation returns
(`ServingOutcome`)."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np


class Seq:
    """One request's progress on its replica: prompt tokens prefilled, output tokens generated, and the replica
    time its KV cache cost since it was last built from scratch (what a failure of the replica throws away).
    While it decodes in a replica's batch, `generated` is kept by the batch's step counter (see
    engine/serving/batch.py) and brought up to date when it leaves. (A plain class: one is made per request.)"""

    def __init__(self, index: int, input_tokens: int, output_tokens: int, prefill_target: int, *,
                 generated: int = 0, prefix: int = -1, prefix_tokens: int = 0) -> None:
        self.index, self.input_tokens, self.output_tokens = index, input_tokens, output_tokens
        self.prefill_target = prefill_target  # to prefill: the prompt, plus what was generated before a preemption
        self.reserved = 0  # tokens whose blocks are held from admission on (the whole request, or none)
        self.prefilled = 0
        self.generated = generated
        self.swapped = False  # its KV cache is in host memory
        self.prefix = prefix  # the shared-prefix group of its prompt (-1: none)
        self.prefix_tokens = prefix_tokens  # tokens of that prefix at the start of its prompt
        self.shared = 0  # prompt tokens read from the replica's prefix cache: not computed, not in its own blocks
        self.work_s = 0.0  # its share of its replica's iterations for its cache (decoding: up to `mark_s`)
        self.mark_s = 0.0  # the replica's `decode_share_s` when it last began decoding there
        self.upstream: tuple[int, float] | None = None  # (prefill replica, its share there) of a cache moved on
        self.offset = 0  # while decoding in a batch: its step counter less `generated`
        self.entry = -1  # while decoding in a batch: its entry in the batch's heap of finish steps

    @property
    def decoding(self) -> bool:
        return self.prefilled >= self.prefill_target

    def blocks(self, block_tokens: int, extra: int = 0) -> int:
        cached = max(self.prefill_target, self.input_tokens + self.generated + extra, self.reserved)
        return -((self.shared - cached) // block_tokens)

    def restart(self) -> None:
        """Lose the KV cache: prefill the prompt and the tokens already sent again."""
        self.prefill_target, self.prefilled, self.shared = self.input_tokens + self.generated, 0, 0
        self.work_s, self.upstream = 0.0, None


@dataclass
class ServingOutcome:
    """Per-request times (NaN where not reached) and per-replica totals of one simulation."""

    arrival_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    arrived: np.ndarray  # bool: arrived before the run stopped
    failed: np.ndarray  # bool: could never fit in a replica's KV cache, or lost to a failure (fail policy)
    replica: np.ndarray  # int: where it was first routed (-1: not arrived, or no replica was up)
    preemptions: int
    retried: int  # requests restarted on another replica after a failure (each time)
    busy_s: np.ndarray  # per replica, seconds spent in iterations
    kv_block_s: np.ndarray  # per replica, KV-cache blocks held integrated over time (block-seconds)
    kv_capacity_blocks: np.ndarray  # per replica
    active_s: np.ndarray  # per replica, seconds provisioned (paid for): all run long without autoscaling
    lost_s: np.ndarray  # per replica, seconds of its iterations whose work replica failures threw away
    queued_at_end: int
    running_at_end: int  # in a batch, or moving its KV cache from a prefill to a decode replica
    end_s: float  # simulated time when the run stopped
    outages: int = 0  # replica failures (overlapping ones merged)
    prefix_lookups: int = 0  # admissions of a request with a shared prefix, where replicas cache prefixes
    prefix_hits: int = 0  # of those, the replica held the prefix
    # per request, for the exported files (simulator/report/export.py): where it was last routed (-1: never; the
    # replica that finished a completed one), times restarted after a failure, times preempted; and the requests
    # in a batch or moving between pools at the end
    served: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    retries: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    preempted: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    running: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


class Times:
    """Per-request marks as the engine writes them, several times per request (in the standard library's typed
    arrays: far cheaper to write one item of than numpy's, and nothing for the garbage collector to walk, unlike
    lists); `close` hands them to the outcome."""

    def __init__(self, count: int) -> None:
        self.first_token_s = array("d", [math.nan]) * count
        self.finish_s = array("d", [math.nan]) * count
        self.arrived = array("b", [0]) * count
        self.replica = array("q", [-1]) * count  # where it was first routed
        self.served = array("q", [-1]) * count  # where it was last routed
        self.retries = array("q", [0]) * count  # restarts after failures
        self.preempted = array("q", [0]) * count

    def close(self, outcome: ServingOutcome) -> None:
        outcome.first_token_s[:] = self.first_token_s
        outcome.finish_s[:] = self.finish_s
        outcome.arrived[:] = self.arrived
        outcome.replica[:] = self.replica
        outcome.served, outcome.retries, outcome.preempted = (np.array(a, dtype=np.int64) for a in
                                                              (self.served, self.retries, self.preempted))
