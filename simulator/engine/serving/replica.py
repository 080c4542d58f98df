"""Serving replicas as SimPy processes: requests arrive, a router picks a replica, and each replica runs
iteration-level continuous batching (Orca, vLLM) with chunked prefill under a token budget (Sarathi-Serve)
and paged KV-cache admission with preemption by recompute (vLLM).

Event economy: an iteration with prefill work is one timeout; a run of decode-only iterations up to the
next finish or KV-block shortage is one timeout summed in closed form, cut short by an arrival at the end
of the iteration then running. Every request ends completed, failed (it can never fit), queued or running.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import simpy

from simulator.models.workload.serving_time import IterationModel
from simulator.plan.serving import Autoscaler, DecodePool, ReplicaLimits


class RouterPolicy(Enum):
    """How the router picks a replica for an arriving request."""

    ROUND_ROBIN = "round_robin"
    LEAST_OUTSTANDING = "least_outstanding"
    POWER_OF_TWO = "power_of_two"
    KV_AWARE = "kv_aware"  # fewest tokens cached or about to be: balances memory, not request counts
    PREFIX_AWARE = "prefix_aware"  # a replica holding the request's prefix unless far busier than the least busy


def _wake_up(wake: simpy.Event, _: simpy.Event) -> None:
    """Timeout callback: end a wait unless an arrival already has."""
    if not wake.triggered:
        wake.succeed()


@dataclass
class _Sequence:
    """One request's progress on its replica: prompt tokens prefilled, output tokens generated."""

    index: int
    input_tokens: int
    output_tokens: int
    prefill_target: int  # tokens to prefill: the prompt, plus what was generated before a preemption
    reserved: int  # tokens whose blocks are held from admission on (the whole request, or none)
    prefilled: int = 0
    generated: int = 0
    swapped: bool = False  # its KV cache is in host memory
    prefix: int = -1  # the shared-prefix group of its prompt (-1: none)
    prefix_tokens: int = 0  # tokens of that prefix at the start of its prompt
    shared: int = 0  # prompt tokens read from the replica's prefix cache: not computed, not in its own blocks

    @property
    def decoding(self) -> bool:
        return self.prefilled >= self.prefill_target

    def blocks(self, block_tokens: int, extra: int = 0) -> int:
        cached = max(self.prefill_target, self.input_tokens + self.generated + extra, self.reserved)
        return -((self.shared - cached) // block_tokens)

    def restart(self) -> None:
        """Lose the KV cache: prefill the prompt and the tokens already sent again."""
        self.prefill_target, self.prefilled, self.shared = self.input_tokens + self.generated, 0, 0


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
    queued_at_end: int
    running_at_end: int  # in a batch, or moving its KV cache from a prefill to a decode replica
    end_s: float  # simulated time when the run stopped
    outages: int = 0  # replica failures (overlapping ones merged)
    prefix_lookups: int = 0  # admissions of a request with a shared prefix, where replicas cache prefixes
    prefix_hits: int = 0  # of those, the replica held the prefix


@dataclass
class _Replica:
    """One replica's scheduler: a waiting queue, the running batch, and the SimPy process that iterates."""

    env: simpy.Environment
    model: IterationModel
    limits: ReplicaLimits
    outcome: ServingOutcome
    number: int
    waiting: deque[_Sequence] = field(default_factory=deque)
    running: list[_Sequence] = field(default_factory=list)
    wake: simpy.Event | None = None
    handoff: Callable[[_Sequence], None] | None = None  # a prefill replica passes prefilled requests on
    iteration_start_s: float | None = None  # while an iteration (or decode run) is in flight
    down: bool = True  # takes no requests: not yet placed, failed, starting, or switched off
    failing: bool = False  # down after a failure, until its repairs
    blockers: list[simpy.Event] = field(default_factory=list)  # further repairs it waits for when up again
    pace: float = 1.0  # iteration-time factor while a straggling GPU slows it (fail-slow), until it is evicted
    settled: Callable[[int], None] = lambda count: None  # told of requests completed or failed here
    swap_s: float = 0.0  # KV swapping owed, paid by the next iteration (the copies are not overlapped)
    prefixes: OrderedDict[int, None] = field(default_factory=OrderedDict)  # cached prefix groups, oldest first
    process: simpy.Process | None = None
    provisioned_since_s: float | None = None  # when it was started (paid from then); None while off

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.running)

    @property
    def kv_tokens(self) -> int:
        """Tokens the replica's requests cache now or will on admission (prompt and output so far)."""
        return sum(s.input_tokens + s.generated for s in self.running) + sum(
            s.input_tokens + s.generated for s in self.waiting)

    def submit(self, seq: _Sequence) -> None:
        self.waiting.append(seq)
        self._wake()

    def slow(self, factor: float) -> None:
        """A GPU of the replica turned slow: iterations take `factor` times as long from the one in flight on."""
        if factor > self.pace:
            self.pace = factor
            self._wake()  # a decode run is cut after its iteration in flight and continues at the new pace

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.triggered:
            self.wake.succeed()

    def _blocks_used(self, extra: int = 0) -> int:
        """Blocks the running sequences hold once each decode has `extra` more tokens (inlined: it runs
        every iteration over the whole batch)."""
        block = self.limits.block_tokens
        return sum(-((s.shared - max(s.prefill_target, s.reserved, s.input_tokens + s.generated
                                     + (extra if s.prefilled >= s.prefill_target else 0))) // block)
                   for s in self.running)

    def _admit(self) -> None:
        limits = self.limits
        used: int | None = None  # blocks held, counted once the first admission is tried
        while self.waiting and len(self.running) < limits.max_batch:
            seq = self.waiting[0]
            hit = (limits.prefix_slots > 0 and seq.prefix >= 0 and seq.prefilled == 0 and not seq.swapped
                   and seq.prefix in self.prefixes)
            if hit:  # computed already: skip it (but the prompt's last token, whose logits are needed)
                seq.shared = min(seq.prefix_tokens, seq.prefill_target - 1)
            need = seq.blocks(limits.block_tokens)
            if -(-(seq.input_tokens + seq.output_tokens) // limits.block_tokens) > limits.kv_blocks:
                self.waiting.popleft()
                self.outcome.failed[seq.index] = True
                self.settled(1)
                continue
            if used is None:
                used = self._blocks_used(1)
            if used + need > limits.kv_blocks:
                seq.shared = 0
                return
            used += need
            if limits.prefix_slots > 0 and seq.prefix >= 0 and seq.prefilled == 0 and not seq.swapped:
                self.outcome.prefix_lookups += 1
                if hit:
                    self.outcome.prefix_hits += 1
                    seq.prefilled = seq.shared
                    self.prefixes.move_to_end(seq.prefix)
            if seq.swapped:
                seq.swapped = False
                self.swap_s += (seq.input_tokens + seq.generated) * limits.swap_s_per_token
            self.running.append(self.waiting.popleft())

    def _remember(self, prefix: int) -> None:
        """A prompt with this prefix was computed here: cache the prefix, forgetting the least recently used.
        (Requests already running on a forgotten prefix keep reading it: its blocks are taken to outlive them.)"""
        self.prefixes[prefix] = None
        self.prefixes.move_to_end(prefix)
        while len(self.prefixes) > self.limits.prefix_slots:
            self.prefixes.popitem(last=False)

    def _split_batch(self) -> tuple[list[_Sequence], list[_Sequence], int, int]:
        """(decoding, prefilling, tokens cached by the decodes, blocks held once each decode has one more
        token), in one pass over the batch: this runs every iteration."""
        decoding: list[_Sequence] = []
        prefilling: list[_Sequence] = []
        cached = used = 0
        block = self.limits.block_tokens
        for seq in self.running:
            tokens = seq.input_tokens + seq.generated
            if seq.prefilled >= seq.prefill_target:
                decoding.append(seq)
                cached += tokens
                tokens += 1
            else:
                prefilling.append(seq)
            used -= (max(seq.prefill_target, seq.reserved, tokens) - seq.shared) // -block
        return decoding, prefilling, cached, used

    def _make_room(self, used: int) -> None:
        """Preempt the latest admitted sequences until every decode can grow by one token (`used`: the
        blocks that needs now)."""
        while len(self.running) > 1 and used > self.limits.kv_blocks:
            victim = self.running.pop()
            used -= victim.blocks(self.limits.block_tokens, 1 if victim.decoding else 0)
            if self.limits.swap_s_per_token > 0.0 and victim.decoding:  # out now, back in on readmission
                victim.swapped = True
                self.swap_s += (victim.input_tokens + victim.generated) * self.limits.swap_s_per_token
            else:
                victim.restart()
            self.waiting.appendleft(victim)
            self.outcome.preemptions += 1

    def _emit(self, seqs: Sequence[_Sequence], tokens: int) -> None:
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
                    handoff(seq)
        if finished or handoff is not None:
            self.running = [s for s in self.running
                            if s.generated < s.output_tokens and (handoff is None or not s.decoding)]

    def _decode_steps_left(self, decoding: Sequence[_Sequence], next_blocks: int) -> int:
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

    def run(self, evict: Callable[[list[_Sequence]], None],
            repaired: Callable[[], None]) -> Generator[simpy.Event, object, None]:
        """Iterate until the simulation ends; a failure (an interrupt whose cause is the outage in seconds, or
        the event of the repair) hands every request on the replica to `evict`, and the replica is down until
        the repair and any other repair it learns of meanwhile (`blockers`)."""
        while True:
            try:
                yield from self._iterate()
            except simpy.Interrupt as crash:
                start = self.iteration_start_s
                if start is not None:
                    self.outcome.busy_s[self.number] += self.env.now - start
                    self.iteration_start_s = None
                lost = self.running + list(self.waiting)
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
        env, model = self.env, self.model
        while True:
            self._admit()
            if not self.running:
                self.wake = env.event()
                yield self.wake
                continue
            decoding, prefilling, cached, next_blocks = self._split_batch()
            if next_blocks > self.limits.kv_blocks and len(self.running) > 1:
                self._make_room(next_blocks)
                decoding, prefilling, cached, next_blocks = self._split_batch()
            context = cached / len(decoding) if decoding else 0.0
            start = self.iteration_start_s = env.now
            if prefilling:
                budget = max(1, self.limits.max_num_tokens - len(decoding))
                chunks: list[tuple[_Sequence, int]] = []
                for seq in prefilling:
                    take = min(budget, seq.prefill_target - seq.prefilled)
                    if take <= 0:
                        break
                    chunks.append((seq, take))
                    budget -= take
                tokens = sum(take for _, take in chunks)
                # a chunk at positions [p, p + take) attends to 2p + take tokens on average, causally
                prompt = sum((2 * seq.prefilled + take) * take for seq, take in chunks) / tokens
                swap_s, self.swap_s = self.swap_s, 0.0
                yield env.timeout(swap_s + self.pace * model.iteration_s(len(decoding), context, tokens, prompt))
                for seq, take in chunks:
                    seq.prefilled += take
                    if seq.prefix >= 0 and self.limits.prefix_slots > 0 and seq.decoding:
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
                wake = self.wake = env.event()
                # the span's end also wakes the replica (cheaper than waiting on either of two events)
                env.timeout(span_s).callbacks.append(functools.partial(_wake_up, wake))
                yield wake
                if env.now < span_start + span_s:  # an arrival or a slowdown: stop after the iteration in flight
                    steps = min(steps, model.decode_steps_within(len(decoding), context, steps,
                                                                 (env.now - span_start) / pace) + 1)
                    yield env.timeout(max(0.0, span_start + pace * model.decode_span_s(len(decoding), context, steps)
                                          - env.now))
                # each sequence gains a block every block_tokens iterations: on average over the run
                held = next_blocks + len(decoding) * (steps - 1) / (2.0 * self.limits.block_tokens)
                self._emit(decoding, steps)
            self.outcome.busy_s[self.number] += env.now - start
            self.iteration_start_s = None
            self.outcome.kv_block_s[self.number] += held * (env.now - start)


@dataclass(frozen=True)
class Outage:
    """A replica down from `start_s` for `duration_s` (a crash of any of its GPUs and the repair)."""

    start_s: float
    replica: int
    duration_s: float


class FailurePolicy(Enum):
    """What happens to the requests on a replica that fails."""

    RETRY = "retry"  # restart elsewhere, recomputing the prompt and the tokens already sent
    FAIL = "fail"  # report them failed


@dataclass
class Deployment:
    """The replicas of one service, its routers, and the requests waiting for a replica to come up; built by
    `deploy_serving` on an environment that may hold other processes (training jobs, failures)."""

    env: simpy.Environment
    pool: list[_Replica]
    decoders: list[_Replica]
    policy: RouterPolicy
    rng: np.random.Generator
    outcome: ServingOutcome
    decode: DecodePool | None
    on_failure: FailurePolicy
    initial: int  # main-pool replicas brought up first
    autoscaler: Autoscaler | None = None  # watches the load once the replicas are up
    stranded: deque[_Sequence] = field(default_factory=deque)  # no replica of its pool was up
    moving: set[int] = field(default_factory=set)  # KV caches between the pools
    unsettled: int = 0  # requests not yet completed or failed
    done: simpy.Event | None = None  # fires when every request is completed or failed
    prefix_group: np.ndarray | None = None  # per request: its shared-prefix group (-1: none)
    # GPUs for a replica the autoscaler starts: an event that fires when they are granted (None: at once),
    # and how to give them back when it is switched off
    acquire: Callable[[int], simpy.Event] | None = None
    give_back: Callable[[int], None] | None = None
    starting: set[int] = field(default_factory=set)  # replicas waiting for their GPUs

    def prefix_of(self, i: int) -> int:
        """The shared-prefix group of request `i` (-1: none)."""
        return -1 if self.prefix_group is None else int(self.prefix_group[i])

    def settle(self, count: int) -> None:
        """`count` requests completed or failed."""
        self.unsettled -= count
        if self.unsettled == 0 and self.done is not None and not self.done.triggered:
            self.done.succeed()

    def bring_up(self) -> None:
        """Start the first replicas and the decode pool (once their GPUs are granted)."""
        for replica in self.pool[:self.initial] + self.decoders:
            replica.down, replica.provisioned_since_s = False, self.env.now
        self.repaired()
        if self.autoscaler is not None:
            self.env.process(self.autoscale(self.autoscaler))

    def crash(self, number: int, until: simpy.Event | float) -> None:
        """Replica `number` fails until `until` (the repair, or seconds); a replica already failed waits for
        this repair too; one that is off or starting is not affected."""
        replica = (self.pool + self.decoders)[number]
        if replica.failing and isinstance(until, simpy.Event):
            replica.blockers.append(until)
        elif not replica.down and replica.process is not None:
            replica.down = True  # at once: the interrupt reaches the replica later in this instant
            replica.process.interrupt(until)
            self.outcome.outages += 1

    def slow(self, number: int, factor: float) -> None:
        """A GPU of replica `number` runs `factor` times slower (fail-slow) until the replica fails or is
        evicted; a replica that is down is not affected."""
        replica = (self.pool + self.decoders)[number]
        if not replica.down:
            replica.slow(factor)

    def is_slowed(self, number: int) -> bool:
        """Replica `number` is up and a straggler slows it."""
        replica = (self.pool + self.decoders)[number]
        return not replica.down and replica.pace > 1.0

    def close(self) -> ServingOutcome:
        """The outcome at the current time: what is still queued or running, and time accounts closed."""
        env, outcome, everyone = self.env, self.outcome, self.pool + self.decoders
        outcome.queued_at_end = sum(len(r.waiting) for r in everyone) + len(self.stranded)
        outcome.running_at_end = sum(len(r.running) for r in everyone) + len(self.moving)
        outcome.end_s = float(env.now)
        for replica in everyone:  # iterations cut by the horizon are busy time too
            if replica.iteration_start_s is not None:
                outcome.busy_s[replica.number] += env.now - replica.iteration_start_s
            if replica.provisioned_since_s is not None:
                outcome.active_s[replica.number] += env.now - replica.provisioned_since_s
        return outcome

    def pick(self, replicas: Sequence[_Replica], i: int) -> _Replica | None:
        """The replica request `i` goes to, among those up (None if none is); ties go to the lowest number."""
        policy = self.policy
        if policy is RouterPolicy.LEAST_OUTSTANDING:  # the common case, in one pass
            best, fewest = None, math.inf
            for replica in replicas:
                if not replica.down and len(replica.waiting) + len(replica.running) < fewest:
                    best, fewest = replica, len(replica.waiting) + len(replica.running)
            return best
        up = [r for r in replicas if not r.down]
        if not up:
            return None
        if policy is RouterPolicy.ROUND_ROBIN:
            return up[i % len(up)]
        if policy is RouterPolicy.KV_AWARE:
            return min(up, key=lambda r: r.kv_tokens)
        if policy is RouterPolicy.PREFIX_AWARE:
            least = min(up, key=lambda r: r.outstanding)
            prefix = self.prefix_of(i)
            holders = [r for r in up if prefix in r.prefixes] if prefix >= 0 else []
            if holders:  # balance rule (as SGLang's cache-aware router): not above 2x the least busy + 1
                holder = min(holders, key=lambda r: r.outstanding)
                if holder.outstanding <= 2 * least.outstanding + 1:
                    return holder
            return least
        if len(up) > 1:
            a, b = self.rng.choice(len(up), size=2, replace=False)
            return min(up[int(a)], up[int(b)], key=lambda r: r.outstanding)
        return up[0]

    def route(self, seq: _Sequence) -> None:
        """Send a request to its pool: the decode pool once prefilled (with a decode pool), else the main."""
        if seq.swapped:  # its KV cache stays in the old replica's host memory: recompute instead
            seq.swapped = False
            seq.restart()
        to_decoders = self.decode is not None and seq.decoding and seq.generated > 0
        replica = self.pick(self.decoders if to_decoders else self.pool, seq.index)
        if replica is None:
            self.stranded.append(seq)
            return
        if self.outcome.replica[seq.index] < 0:
            self.outcome.replica[seq.index] = replica.number
        replica.submit(seq)

    def hand_off(self, seq: _Sequence) -> None:
        self.env.process(self._transfer(seq))

    def _transfer(self, seq: _Sequence) -> Generator[simpy.Event, object, None]:
        assert self.decode is not None
        self.moving.add(seq.index)
        yield self.env.timeout((seq.input_tokens + seq.generated) * self.decode.transfer_s_per_token)
        self.moving.discard(seq.index)
        seq.reserved = seq.input_tokens + seq.output_tokens if self.decode.limits.reserve_output else 0
        self.route(seq)

    def evict(self, lost: list[_Sequence]) -> None:
        """Requests on a failed replica: restarted from their prompt and sent tokens, or failed."""
        for seq in lost:
            if self.on_failure is FailurePolicy.FAIL:
                self.outcome.failed[seq.index] = True
                self.settle(1)
                continue
            self.outcome.retried += 1
            seq.restart()
            self.route(seq)

    def repaired(self) -> None:
        """A replica is back (or new): stranded requests, and those still waiting in other replicas' queues,
        are routed again in arrival order, as from one queue in front of the replicas."""
        waiting, self.stranded = list(self.stranded), deque()
        for replica in self.pool + self.decoders:
            if not replica.down:
                waiting += replica.waiting
                replica.waiting = deque()
        for seq in sorted(waiting, key=lambda seq: seq.index):
            self.route(seq)


    def _switch(self, replica: _Replica, on: bool) -> None:
        now = self.env.now
        if on:
            replica.provisioned_since_s = now
        elif replica.provisioned_since_s is not None:
            self.outcome.active_s[replica.number] += now - replica.provisioned_since_s
            replica.provisioned_since_s, replica.down = None, True
            if self.give_back is not None:
                self.give_back(replica.number)

    def _start(self, replica: _Replica, cold_start_s: float) -> Generator[simpy.Event, object, None]:
        if self.acquire is not None:  # wait for the cluster to grant its GPUs (paid from then)
            self.starting.add(replica.number)
            yield self.acquire(replica.number)
            self.starting.discard(replica.number)
        self._switch(replica, True)
        yield self.env.timeout(cold_start_s)
        replica.down = False
        self.repaired()

    def autoscale(self, scaler: Autoscaler) -> Generator[simpy.Event, object, None]:
        """Watch the load until all work is done, starting and stopping main-pool replicas."""
        busy_before = self.outcome.busy_s.copy()
        while self.unsettled:
            yield self.env.timeout(scaler.interval_s)
            if not self.unsettled:
                break  # the service ended during the interval: its GPUs are already given back
            serving = [r for r in self.pool if not r.down]
            provisioned = [r for r in self.pool if r.provisioned_since_s is not None or r.number in self.starting]
            if scaler.on_busy:  # iterations finished in the interval (one in flight counts when it ends)
                busy = sum(self.outcome.busy_s[r.number] - busy_before[r.number] for r in serving)
                load = float(busy) / (scaler.interval_s * max(1, len(serving))) if serving else math.inf
                busy_before = self.outcome.busy_s.copy()
            else:
                load = (sum(r.outstanding for r in serving) + len(self.stranded)) / max(1, len(serving))
            if load > scaler.scale_up_at and len(provisioned) < scaler.max_replicas:
                self.env.process(self._start(next(r for r in self.pool if r.provisioned_since_s is None
                                                  and r.number not in self.starting),
                                             scaler.cold_start_s))
            elif load < scaler.scale_down_at and len(provisioned) > scaler.min_replicas:
                idle = [r for r in serving if r.outstanding == 0]
                if idle:
                    self._switch(idle[-1], False)

    def outages(self, outages: Sequence[Outage]) -> Generator[simpy.Event, object, None]:
        """Take replicas down as listed (an outage overlapping an earlier one merges into it)."""
        for outage in sorted(outages, key=lambda o: o.start_s):
            if outage.start_s > self.env.now:
                yield self.env.timeout(outage.start_s - self.env.now)
            self.crash(outage.replica, outage.duration_s)


def deploy_serving(env: simpy.Environment, model: IterationModel, limits: ReplicaLimits, replicas: int,
                   arrival_s: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray,
                   policy: RouterPolicy, rng: np.random.Generator, decode: DecodePool | None = None,
                   on_failure: FailurePolicy = FailurePolicy.RETRY,
                   autoscaler: Autoscaler | None = None, prefix_group: np.ndarray | None = None,
                   prefix_tokens: int = 0) -> Deployment:
    """Processes that serve the requests (sorted absolute arrival times) on identical replicas, all down until
    `bring_up()`; with a decode pool, the first `replicas` only prefill (replica numbers continue into the
    decode pool). With an autoscaler, the main pool, numbered first, may grow to the autoscaler's maximum.
    Requests arriving while no replica is up wait for one. With `prefix_group` (per request, -1 for none),
    the first `prefix_tokens` of a request's prompt are shared with its group (cached by `limits.prefix_slots`)."""
    count = len(arrival_s)
    nan = np.full(count, math.nan)
    main = max(replicas, autoscaler.max_replicas) if autoscaler else replicas
    sizes = [limits.kv_blocks] * main + ([decode.limits.kv_blocks] * decode.replicas if decode else [])
    outcome = ServingOutcome(np.asarray(arrival_s, dtype=float), nan.copy(), nan.copy(), np.zeros(count, dtype=bool),
                             np.zeros(count, dtype=bool), np.full(count, -1, dtype=np.int64), 0, 0,
                             np.zeros(len(sizes)), np.zeros(len(sizes)), np.array(sizes), np.zeros(len(sizes)),
                             0, 0, 0.0)
    pool = [_Replica(env, model, limits, outcome, n) for n in range(main)]
    decoders = [_Replica(env, decode.model, decode.limits, outcome, main + n)
                for n in range(decode.replicas)] if decode else []
    service = Deployment(env, pool, decoders, policy, rng, outcome, decode, on_failure, replicas, autoscaler,
                         unsettled=count, done=env.event(), prefix_group=prefix_group)
    if count == 0:
        service.done.succeed()  # type: ignore[union-attr]
    for replica in pool + decoders:
        replica.settled = service.settle
        replica.process = env.process(replica.run(service.evict, service.repaired))
        if decode is not None and replica.number < main:
            replica.handoff = service.hand_off

    def arrivals() -> Generator[simpy.Event, object, None]:
        for i in range(count):
            if arrival_s[i] > env.now:  # simultaneous arrivals are all queued before a replica wakes
                yield env.timeout(float(arrival_s[i]) - env.now)
            outcome.arrived[i] = True
            prompt, output = int(input_tokens[i]), max(1, int(output_tokens[i]))
            service.route(_Sequence(i, prompt, output, prompt, prompt + output if limits.reserve_output else 0,
                                    prefix=service.prefix_of(i), prefix_tokens=min(prefix_tokens, prompt)))

    env.process(arrivals())
    return service


def simulate_serving(model: IterationModel, limits: ReplicaLimits, replicas: int, arrival_s: np.ndarray,
                     input_tokens: np.ndarray, output_tokens: np.ndarray, policy: RouterPolicy,
                     rng: np.random.Generator, horizon_s: float | None = None,
                     decode: DecodePool | None = None, outages: Sequence[Outage] = (),
                     on_failure: FailurePolicy = FailurePolicy.RETRY,
                     autoscaler: Autoscaler | None = None, prefix_group: np.ndarray | None = None,
                     prefix_tokens: int = 0) -> ServingOutcome:
    """Serve the requests on their own (see `deploy_serving`), replicas up from time 0, until all are
    completed or failed or the horizon passes. Outages take replicas down; their requests are retried
    elsewhere or failed, by `on_failure`."""
    env = simpy.Environment()
    service = deploy_serving(env, model, limits, replicas, arrival_s, input_tokens, output_tokens, policy, rng,
                             decode, on_failure, autoscaler, prefix_group, prefix_tokens)
    service.bring_up()
    env.process(service.outages(outages))
    assert service.done is not None
    env.run(until=service.done if horizon_s is None else env.any_of([service.done, env.timeout(horizon_s)]))
    return service.close()
