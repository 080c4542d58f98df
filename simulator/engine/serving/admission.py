"""Admission and batching policies of a replica, registered by the names simulator/scenario/policies.py declares:
which waiting requests enter the batch, which running ones are preempted when KV blocks run short, and which
prompt chunks an iteration prefills."""

from __future__ import annotations

from typing import get_args

from simulator.engine.registry import Registry
from simulator.engine.serving.replica import Admission, Replica
from simulator.engine.serving.requests import Seq
from simulator.scenario.policies import AdmissionName

ADMISSIONS: Registry[AdmissionName, type[Admission]] = Registry("admission policy", get_args(AdmissionName))


@ADMISSIONS.register("fcfs")
class FirstComeFirstServed:
    """vLLM's scheduler: the head of the waiting queue enters while `max_batch` and the KV blocks allow (with
    `reserve_output`, blocks for its whole output are reserved up front: TensorRT-LLM's guaranteed no-evict);
    a request that can never fit fails; a shortage preempts the latest admitted; each iteration carries every
    decode and fills the rest of `max_num_tokens` with prompt chunks in admission order (Sarathi-Serve)."""

    def admit(self, replica: Replica) -> None:
        limits = replica.limits
        used: int | None = None  # blocks held, counted once the first admission is tried
        while replica.waiting and replica.batch_size < limits.max_batch:
            seq = replica.waiting[0]
            if -(-(seq.input_tokens + seq.output_tokens) // limits.block_tokens) > limits.kv_blocks:
                replica.reject(replica.waiting.popleft())
                continue
            seq.reserved = seq.input_tokens + seq.output_tokens if limits.reserve_output else 0
            hit = replica.lookup(seq)
            need = seq.blocks(limits.block_tokens)
            if used is None:
                used = replica.used_blocks()
            if used + need > limits.kv_blocks:
                seq.shared = 0
                return
            used += need
            replica.enter(replica.waiting.popleft(), hit)

    def make_room(self, replica: Replica, used_blocks: int) -> None:
        block_tokens = replica.limits.block_tokens
        while replica.batch_size > 1 and used_blocks > replica.limits.kv_blocks:
            victim = replica.latest()
            used_blocks -= victim.blocks(block_tokens, 1 if victim.decoding else 0)
            replica.preempt(victim)

    def chunks(self, replica: Replica, decodes: int, prefilling: list[Seq]) -> list[tuple[Seq, int]]:
        budget = max(1, replica.limits.max_num_tokens - decodes)
        chunks: list[tuple[Seq, int]] = []
        for seq in prefilling:
            take = min(budget, seq.prefill_target - seq.prefilled)
            if take <= 0:
                break
            chunks.append((seq, take))
            budget -= take
        return chunks
