"""One serving replica as a SimPy process: iteration-level continuous batching (Orca, vLLM) over paged KV
blocks, asking its admission policy (engine/serving/admission.py) what to admit, what to preempt and which
prompt chunks to prefill, and keeping the outcome's per-request times and per-replica accounts.

Event economy: an iteration with prefill work is one timeout; a run of decode-only iterations up to the
next finish or KV-block shortage is one timeout summed in closed form, which the replica's process waits on
directly; an arrival (or a slowdown) cuts it short by interrupting the process, which then finishes the
iteration in flight.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import simpy

from simulator.models.workload.serving_time import IterationModel
from simulator.plan.serving import ReplicaLimits

WAKE = "wake"  # the cause of an interrupt that cuts a decode run short (any other cause is a failure)
DOWN = 1 << 40  # added to a replica's load while it is down: more than any count of requests


@dataclass
class Seq:
    """One request's progress on its replica: prompt tokens prefilled, output tokens generated, and the replica
    time its KV cache cost since it was last built from scratch (what a failure of the replica throws away)."""

    index: int
    input_tokens: int
    output_tokens: int
    prefill_target: int  # tokens to prefill: the prompt, plus what was generated before a preemption
    reserved: int = 0  # tokens whose blocks are held from admission on (the whole request, or none)
    prefilled: int = 0
    generated: int = 0
    swapped: bool = False  # its KV cache is in host memory
    prefix: int = -1  # the shared-prefix group of its prompt (-1: none)
    prefix_tokens: int = 0  # tokens of that prefix at the start of its prompt
    shared: int = 0  # prompt tokens read from the replica's prefix cache: not computed, not in its own blocks
    work_s: float = 0.0  # its share of its replica's iterations for its cache (decoding: up to `mark_s`)
    mark_s: float = 0.0  # the replica's `decode_share_s` when it last began decoding there
    upstream: tuple[int, float] | None = None  # (prefill replica, its share there) of a cache moved to decode

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


class Admission(Protocol):
    """What a replica asks its scheduling policy each iteration (implementations: engine/serving/admission.py)."""

    def admit(self, replica: Replica) -> None:
        """Move requests from the replica's waiting queue into its batch (`Replica.enter`) or fail them
        (`Replica.reject`)."""

    def make_room(self, replica: Replica, used_blocks: int) -> None:
        """Preempt (`Replica.preempt`) until every decode can grow by one token; `used_blocks`: what that
        needs now."""

    def chunks(self, replica: Replica, decodes: int, prefilling: list[Seq]) -> list[tuple[Seq, int]]:
        """The prompt chunks (sequence, tokens) to prefill next to `decodes` decodes; at least one."""


@dataclass
class Replica:
    """One replica's scheduler: a waiting queue, the running batch, and the SimPy process that iterates."""

    env: simpy.Environment
    model: IterationModel
    limits: ReplicaLimits
    admission: Admission
    outcome: ServingOutcome
    number: int
    waiting: deque[Seq] = field(default_factory=deque)
    running: list[Seq] = field(default_factory=list)
    wake: simpy.Event | None = None  # what an idle replica waits on
    span: simpy.Timeout | None = None  # the decode run in flight, until it ends or is cut
    handoff: Callable[[Seq], None] | None = None  # a prefill replica passes prefilled requests on
    iteration_start_s: float | None = None  # while an iteration (or decode run) is in flight
    _down: bool = True  # takes no requests: not yet placed, failed, starting, or switched off
    load: int = DOWN  # requests queued and running, plus DOWN while down (kept up to date: routers compare it)
    failing: bool = False  # down after a failure, until its repairs
    blockers: list[simpy.Event] = field(default_factory=list)  # further repairs it waits for when up again
    pace: float = 1.0  # iteration-time factor while a straggling GPU slows it (fail-slow), until it is evicted
    settled: Callable[[int], None] = lambda count: None  # told of requests completed or failed here
    swap_s: float = 0.0  # KV swapping owed, paid by the next iteration (the copies are not overlapped)
    prefixes: OrderedDict[int, None] = field(default_factory=OrderedDict)  # cached prefix groups, oldest first
    process: simpy.Process | None = None
    provisioned_since_s: float | None = None  # when it was started (paid from then); None while off
    # seconds of iteration time per token, summed over its iterations: a sequence decoding throughout
    # [a, b] was given decode_share_s(b) - decode_share_s(a) of them (each iteration split evenly per token)
    decode_share_s: float = 0.0

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.running)

    @property
    def down(self) -> bool:
        """Takes no requests: not yet placed, failed, starting, or switched off."""
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        self.recount()

    def recount(self) -> None:
        """Bring `load` up to date after requests joined or left the replica (moves between its queue and its
        batch leave it as it is)."""
        self.load = len(self.waiting) + len(self.running) + (DOWN if self._down else 0)

    @property
    def kv_tokens(self) -> int:
        """Tokens the replica's requests cache now or will on admission (prompt and output so far)."""
        return sum(s.input_tokens + s.generated for s in self.running) + sum(
            s.input_tokens + s.generated for s in self.waiting)

    def submit(self, seq: Seq) -> None:
        self.waiting.append(seq)
        self.load += 1
        self._wake()

    def slow(self, factor: float) -> None:
        """A GPU of the replica turned slow: iterations take `factor` times as long from the one in flight on."""
        if factor > self.pace:
            self.pace = factor
            self._wake()  # a decode run is cut after its iteration in flight and continues at the new pace

    def _wake(self) -> None:
        """An idle replica looks at its queue; a decode run in flight is cut after its iteration in flight."""
        if self.wake is not None and not self.wake.triggered:
            self.wake.succeed()
        elif self.span is not None and self.process is not None:
            self.span = None
            self.process.interrupt(WAKE)

    def blocks_used(self, extra: int = 0) -> int:
        """Blocks the running sequences hold once each decode has `extra` more tokens (inlined: it runs
        every iteration over the whole batch)."""
        block = self.limits.block_tokens
        return sum(-((s.shared - max(s.prefill_target, s.reserved, s.input_tokens + s.generated
                                     + (extra if s.prefilled >= s.prefill_target else 0))) // block)
                   for s in self.running)

    def lookup(self, seq: Seq) -> bool:
        """Whether the replica caches the prefix of `seq`, not yet started; if so its cached tokens (but the
        prompt's last, whose logits are needed) are marked shared: not computed, not in its own blocks."""
        hit = (self.limits.prefix_slots > 0 and seq.prefix >= 0 and seq.prefilled == 0 and not seq.swapped
               and seq.prefix in self.prefixes)
        if hit:
            seq.shared = min(seq.prefix_tokens, seq.prefill_target - 1)
        return hit

    def enter(self, seq: Seq, hit: bool) -> None:
        """Take `seq` into the batch (`hit`: its prefix is cached, see `lookup`); a swapped cache comes back."""
        if self.limits.prefix_slots > 0 and seq.prefix >= 0 and seq.prefilled == 0 and not seq.swapped:
            self.outcome.prefix_lookups += 1
            if hit:
                self.outcome.prefix_hits += 1
                seq.prefilled = seq.shared
                self.prefixes.move_to_end(seq.prefix)
        if seq.swapped:
            seq.swapped = False
            self.swap_s += (seq.input_tokens + seq.generated) * self.limits.swap_s_per_token
        if seq.decoding:
            seq.mark_s = self.decode_share_s
        self.running.append(seq)

    def reject(self, seq: Seq) -> None:
        """`seq` can never fit: it is failed."""
        self.outcome.failed[seq.index] = True
        self.load -= 1
        self.settled(1)

    def preempt(self, victim: Seq) -> None:
        """Put `victim`, just taken out of the batch, back at the head of the queue: its KV cache swapped out
        (a decode, where swapping is on) or dropped to be recomputed."""
        if self.limits.swap_s_per_token > 0.0 and victim.decoding:  # out now, back in on readmission
            victim.swapped = True
            victim.work_s += self.decode_share_s - victim.mark_s
            self.swap_s += (victim.input_tokens + victim.generated) * self.limits.swap_s_per_token
        else:
            victim.restart()
        self.waiting.appendleft(victim)
        self.outcome.preemptions += 1

    def _remember(self, prefix: int) -> None:
        """A prompt with this prefix was computed here: cache the prefix, forgetting the least recently used.
        (Requests already running on a forgotten prefix keep reading it: its blocks are taken to outlive them.)"""
        self.prefixes[prefix] = None
        self.prefixes.move_to_end(prefix)
        while len(self.prefixes) > self.limits.prefix_slots:
            self.prefixes.popitem(last=False)

    def _split_batch(self) -> tuple[list[Seq], list[Seq], int, int]:
        """(decoding, prefilling, tokens cached by the decodes, blocks held once each decode has one more
        token), in one pass over the batch: this runs every iteration."""
        decoding: list[Seq] = []
        prefilling: list[Seq] = []
        cached = used = 0
        block = -self.limits.block_tokens
        for seq in self.running:
            tokens = seq.input_tokens + seq.generated
            target = seq.prefill_target
            if seq.prefilled >= target:
                decoding.append(seq)
                cached += tokens
                tokens += 1
            else:
                prefilling.append(seq)
            if target > tokens:  # max(prefill_target, reserved, tokens), without the call
                tokens = target
            if seq.reserved > tokens:
                tokens = seq.reserved
            used -= (tokens - seq.shared) // block
        return decoding, prefilling, cached, used

    def _emit(self, seqs: Sequence[Seq], tokens: int) -> None:
        now = self.env.now
        finished = 0
        for seq in seqs:
            if seq.generated == 0:
                self.outcome.first_token_s[seq.index] = now
            seq.generated += tokens
            if seq.generated >= seq.output_tokens:
                self.outcome.finish_s[seq.index] = now
                finished += 1
        if finished:
            self.settled(finished)
        handoff = self.handoff
        if handoff is not None:
            for seq in seqs:
                if seq.generated < seq.output_tokens:
                    seq.upstream, seq.work_s = (self.number, seq.work_s), 0.0
                    handoff(seq)
        if finished or handoff is not None:
            self.running = [s for s in self.running
                            if s.generated < s.output_tokens and (handoff is None or not s.decoding)]
            self.recount()

    def _decode_steps_left(self, decoding: Sequence[Seq], next_blocks: int) -> int:
        """Decode iterations until the first sequence finishes or the KV cache runs out of blocks
        (`next_blocks` held during the first; a sequence gains at most one block per `block_tokens`)."""
        steps = min(s.output_tokens - s.generated for s in decoding)
        block = self.limits.block_tokens
        if next_blocks + len(decoding) * -(-(steps - 1) // block) <= self.limits.kv_blocks:
            return steps
        cached = np.array([s.input_tokens + s.generated - s.shared for s in decoding], dtype=np.int64)
        low, high = 1, steps
        while low < high:  # the largest step count whose blocks fit
            mid = (low + high + 1) // 2
            if int(np.sum(-(-(cached + mid) // block))) <= self.limits.kv_blocks:
                low = mid
            else:
                high = mid - 1
        return low

    def _write_off(self) -> list[Seq]:
        """A failure: take every request off the replica and book as lost what their KV caches cost (each one's
        share of the iterations since its cache was last built from scratch, here or on the prefill replica it
        came from) and the whole iteration in flight."""
        lost_s, here = self.outcome.lost_s, self.number
        start = self.iteration_start_s
        if start is not None:
            self.outcome.busy_s[here] += self.env.now - start
            lost_s[here] += self.env.now - start
            self.iteration_start_s = None
        lost = self.running + list(self.waiting)
        for seq in self.running:
            if seq.decoding:
                lost_s[here] += self.decode_share_s - seq.mark_s
        for seq in lost:
            lost_s[here] += seq.work_s
            if seq.upstream is not None:
                lost_s[seq.upstream[0]] += seq.upstream[1]
        return lost

    def run(self, evict: Callable[[list[Seq]], None],
            repaired: Callable[[], None]) -> Generator[simpy.Event, object, None]:
        """Iterate until the simulation ends; a failure (an interrupt whose cause is the outage in seconds, or
        the event of the repair) hands every request on the replica to `evict`, and the replica is down until
        the repair and any other repair it learns of meanwhile (`blockers`)."""
        while True:
            try:
                yield from self._iterate()
            except simpy.Interrupt as crash:
                lost = self._write_off()
                self.running, self.waiting, self.down, self.failing = [], deque(), True, True
                evict(lost)
                cause = crash.cause
                yield cause if isinstance(cause, simpy.Event) else self.env.timeout(float(cause))  # type: ignore[arg-type]
                while self.blockers:
                    yield self.blockers.pop()
                self.down = self.failing = False
                self.pace = 1.0  # repaired: a straggler was replaced
                repaired()

    def _iterate(self) -> Generator[simpy.Event, object, None]:
        env, admission = self.env, self.admission
        while True:
            model = self.model  # as priced on the GPUs it holds now (placed anew when it is given GPUs)
            admission.admit(self)
            if not self.running:
                self.wake = env.event()
                yield self.wake
                continue
            decoding, prefilling, cached, next_blocks = self._split_batch()
            if next_blocks > self.limits.kv_blocks and len(self.running) > 1:
                admission.make_room(self, next_blocks)
                decoding, prefilling, cached, next_blocks = self._split_batch()
            context = cached / len(decoding) if decoding else 0.0
            start = self.iteration_start_s = env.now
            if prefilling:
                chunks = admission.chunks(self, len(decoding), prefilling)
                tokens = sum(take for _, take in chunks)
                # a chunk at positions [p, p + take) attends to 2p + take tokens on average, causally
                prompt = sum((2 * seq.prefilled + take) * take for seq, take in chunks) / tokens
                swap_s, self.swap_s = self.swap_s, 0.0
                yield env.timeout(swap_s + self.pace * model.iteration_s(len(decoding), context, tokens, prompt))
                share_s = (env.now - start) / (tokens + len(decoding))
                self.decode_share_s += share_s
                for seq, take in chunks:
                    seq.prefilled += take
                    seq.work_s += take * share_s
                    if seq.prefilled >= seq.prefill_target:  # prefilled: decoding from the next iteration
                        seq.mark_s = self.decode_share_s
                        if seq.prefix >= 0 and self.limits.prefix_slots > 0:
                            self._remember(seq.prefix)
                held = float(next_blocks)
                self._emit(decoding + [seq for seq, _ in chunks if seq.decoding], 1)
            else:
                if self.swap_s > 0.0:  # KV copies owed from preemption or readmission come first
                    swap_s, self.swap_s = self.swap_s, 0.0
                    yield env.timeout(swap_s)
                steps = self._decode_steps_left(decoding, next_blocks)
                pace = self.pace
                span_s = pace * model.decode_span_s(len(decoding), context, steps)
                span_start = env.now
                self.span = env.timeout(span_s)
                try:
                    yield self.span
                    self.span = None
                except simpy.Interrupt as cut:
                    self.span = None
                    if cut.cause != WAKE:
                        raise
                    if env.now < span_start + span_s:  # an arrival or a slowdown: stop after the iteration in flight
                        steps = min(steps, model.decode_steps_within(len(decoding), context, steps,
                                                                     (env.now - span_start) / pace) + 1)
                        yield env.timeout(max(0.0, span_start + pace * model.decode_span_s(len(decoding), context,
                                                                                           steps) - env.now))
                self.decode_share_s += (env.now - start) / len(decoding)
                # each sequence gains a block every block_tokens iterations: on average over the run
                held = next_blocks + len(decoding) * (steps - 1) / (2.0 * self.limits.block_tokens)
                self._emit(decoding, steps)
            self.outcome.busy_s[self.number] += env.now - start
            self.iteration_start_s = None
            self.outcome.kv_block_s[self.number] += held * (env.now - start)
