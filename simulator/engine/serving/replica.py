"""One serving replica: iteration-level continuous batching (Orca, vLLM) over paged KV blocks, asking its
admission policy (engine/serving/admission.py) what to admit, what to preempt and which prompt chunks to
prefill, and keeping the outcome's per-request times and per-replica accounts.

Event economy: a replica is not a SimPy process. Its deployment's agenda (engine/serving/agenda.py) calls it
at the end of each iteration with prefill work, and of each run of decode-only iterations up to the next finish
or KV-block shortage, summed in closed form; an arrival (or a slowdown) moves the end of a run in flight to the
end of its iteration in flight. The batch (engine/serving/batch.py) keeps the work per call independent of its
size.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from simulator.engine.serving.agenda import Agenda
from simulator.engine.serving.batch import NOBODY, Batch
from simulator.engine.serving.loads import DOWN, Pool
from simulator.engine.serving.requests import Seq, ServingOutcome, Times
from simulator.engine.spans import BusySpans
from simulator.models.workload.iteration_prices import IterationPrices
from simulator.models.workload.serving_time import IterationModel
from simulator.plan.limits import ReplicaLimits

# what a replica has in flight (plain ints: compared every iteration)
NOTHING: Final = 0  # idle: it starts when a request comes
PREFILL: Final = 1  # an iteration with prompt chunks (and every decode)
SWAP: Final = 2  # KV copies owed from preemption or readmission, before a decode run
DECODE: Final = 3  # a run of decode-only iterations
FAILED: Final = 4  # down after a failure, until its repairs


class Admission(Protocol):
    """What a replica asks its scheduling policy each iteration (implementations: engine/serving/admission.py)."""

    def admit(self, replica: Replica) -> None:
        """Move requests from the replica's waiting queue into its batch (`Replica.enter`) or fail them
        (`Replica.reject`)."""

    def make_room(self, replica: Replica, used_blocks: int) -> None:
        """Preempt (`Replica.preempt` of `Replica.latest()`) until every decode can grow by one token;
        `used_blocks`: what that needs now."""

    def chunks(self, replica: Replica, decodes: int, prefilling: list[Seq]) -> list[tuple[Seq, int]]:
        """The prompt chunks (sequence, tokens) to prefill next to `decodes` decodes; at least one."""


@dataclass(eq=False)
class Replica:
    """One replica's scheduler: a waiting queue, the running batch, and the iteration in flight."""

    agenda: Agenda
    model: IterationModel
    limits: ReplicaLimits
    admission: Admission
    outcome: ServingOutcome
    times: Times
    number: int
    pool: Pool[Replica] | None = None  # told when the load moves
    waiting: deque[Seq] = field(default_factory=deque)
    batch: Batch = field(init=False)
    handoff: Callable[[Seq], None] | None = None  # a prefill replica passes prefilled requests on
    iteration_start_s: float | None = None  # while an iteration (or decode run) is in flight
    _down: bool = True  # takes no requests: not yet placed, failed, starting, or switched off
    load: int = DOWN  # requests queued and running, plus DOWN while down (kept up to date: routers compare it)
    failing: bool = False  # down after a failure, until its repairs
    pace: float = 1.0  # iteration-time factor while a straggling GPU slows it (fail-slow), until it is evicted
    settled: Callable[[int], None] = lambda count: None  # told of requests completed or failed here
    swap_s: float = 0.0  # KV swapping owed, paid by the next iteration (the copies are not overlapped)
    prefixes: OrderedDict[int, None] = field(default_factory=OrderedDict)  # cached prefix groups, oldest first
    provisioned_since_s: float | None = None  # when it was started (paid from then); None while off
    # seconds of iteration time per token, summed over its iterations: a sequence decoding throughout
    # [a, b] was given decode_share_s(b) - decode_share_s(a) of them (each iteration split evenly per token)
    decode_share_s: float = 0.0
    busy_s: float = 0.0  # seconds spent in iterations (an iteration counts when it ends)
    busy: BusySpans = field(default_factory=BusySpans)  # its stretches of back-to-back iterations
    kv_block_s: float = 0.0  # KV-cache blocks held integrated over time (block-seconds)
    doing: int = NOTHING
    _version: int = 0  # of the end in the agenda's slot: one from before a failure is stale
    _kicked: bool = False  # an idle replica's start is in the agenda
    # the iteration in flight: its prompt chunks and their tokens, and the blocks held during it
    _chunks: list[tuple[Seq, int]] = field(default_factory=list)
    _tokens: int = 0
    _held: int = 0  # (a decode run: at its start)
    # the decode run in flight (or the swap before it): its model as of its start, context, steps, start, span, pace
    _run_model: IterationModel = field(init=False)
    _run_prices: IterationPrices | None = None
    _run_context: float = 0.0
    _run_steps: int = 0
    _run_start_s: float = 0.0
    _run_span_s: float = 0.0
    _run_pace: float = 1.0
    _cuttable: bool = False
    _slot: int = field(init=False)
    _kicked_off: Callable[[object], None] = field(init=False)  # `_kick`, bound once
    _chaining: bool = False  # inside `_end`: an end that is the agenda's next action is taken at once
    _chained: float = -1.0  # that end's time (-1: none)
    _prices: IterationPrices | None = None  # the model, where it is the compiled kind (called without boxing)
    _admit: Callable[[Replica], None] = field(init=False)
    _make_room: Callable[[Replica, int], None] = field(init=False)
    _chunks_of: Callable[[Replica, int, list[Seq]], list[tuple[Seq, int]]] = field(init=False)

    def __post_init__(self) -> None:
        self.batch = Batch(self.limits.block_tokens)
        self._kicked_off = self._kick
        self._slot = self.agenda.slot(self._end)  # where its next end waits in the agenda
        self.price_with(self.model)
        self.policy(self.admission)

    def price_with(self, model: IterationModel) -> None:
        """Iterate as `model` prices them from the next iteration on (placed anew when given GPUs)."""
        self.model = model
        self._prices = model if isinstance(model, IterationPrices) else None

    def policy(self, admission: Admission) -> None:
        """Admit, preempt and chunk as `admission` says."""
        self.admission = admission
        self._admit = admission.admit
        self._make_room = admission.make_room
        self._chunks_of = admission.chunks

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.batch)

    @property
    def batch_size(self) -> int:
        return len(self.batch)

    @property
    def down(self) -> bool:
        """Takes no requests: not yet placed, failed, starting, or switched off."""
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        self.recount()

    def _moved(self, load: int) -> None:
        self.load = load
        if self.pool is not None:
            self.pool.moved(self.number, load)

    def recount(self) -> None:
        """Bring `load` up to date after requests joined or left the replica (moves between its queue and its
        batch leave it as it is)."""
        self._moved(len(self.waiting) + len(self.batch) + (DOWN if self._down else 0))

    @property
    def kv_tokens(self) -> int:
        """Tokens the replica's requests cache now or will on admission (prompt and output so far)."""
        return self.batch.tokens() + sum(s.input_tokens + s.generated for s in self.waiting)

    def submit(self, seq: Seq) -> None:
        self.waiting.append(seq)
        self._moved(self.load + 1)
        self._wake()

    def slow(self, factor: float) -> None:
        """A GPU of the replica turned slow: iterations take `factor` times as long from the one in flight on."""
        if factor > self.pace:
            self.pace = factor
            self._wake()  # a decode run is cut after its iteration in flight and continues at the new pace

    def _wake(self) -> None:
        """An idle replica looks at its queue; a decode run in flight is cut after its iteration in flight."""
        if self.doing == NOTHING:
            if not self._kicked:
                self._kicked = True
                self.agenda.at(self.agenda.now, self._kicked_off)
        elif self.doing == DECODE and self._cuttable:
            self._cut()

    def _kick(self, _: object) -> None:
        self._kicked = False
        if self.doing == NOTHING:
            self.busy.open(self.agenda.now)
            self._begin()

    def used_blocks(self) -> int:
        """Blocks the running sequences hold once each decode has one more token."""
        return self.batch.used_blocks()

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
        self.batch.enter(seq)

    def reject(self, seq: Seq) -> None:
        """`seq` can never fit: it is failed."""
        self.outcome.failed[seq.index] = True
        self._moved(self.load - 1)
        self.settled(1)

    def latest(self) -> Seq:
        """The request admitted last, taken out of the batch (to preempt)."""
        return self.batch.latest()

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
        self.times.preempted[victim.index] += 1

    def _remember(self, prefix: int) -> None:
        """A prompt with this prefix was computed here: cache the prefix, forgetting the least recently used.
        (Requests already running on a forgotten prefix keep reading it: its blocks are taken to outlive them.)"""
        self.prefixes[prefix] = None
        self.prefixes.move_to_end(prefix)
        while len(self.prefixes) > self.limits.prefix_slots:
            self.prefixes.popitem(last=False)

    def halt(self) -> None:
        """A failure: down at once, the work in flight stopped (written off by `write_off` in this instant)."""
        self.down = True
        self.doing = FAILED
        self._version += 1
        self.agenda.clear_slot(self._slot)

    def write_off(self) -> list[Seq]:
        """A failure: take every request off the replica, book as lost what their KV caches cost (each one's
        share of the iterations since its cache was last built from scratch, here or on the prefill replica it
        came from) and the whole iteration in flight, and stop iterating until `restart`."""
        now, lost_s, here = self.agenda.now, self.outcome.lost_s, self.number
        start = self.iteration_start_s
        self.busy.close(now)
        if start is not None:
            self.busy_s += now - start
            lost_s[here] += now - start
            self.iteration_start_s = None
        running = self.batch.everyone()
        for seq in running:
            if seq.decoding:
                lost_s[here] += self.decode_share_s - seq.mark_s
        lost = running + list(self.waiting)
        for seq in lost:
            lost_s[here] += seq.work_s
            if seq.upstream is not None:
                lost_s[seq.upstream[0]] += seq.upstream[1]
        self.waiting, self.failing = deque(), True
        self.recount()
        return lost

    def restart(self) -> None:
        """Repaired: take requests and iterate again (a straggler was replaced)."""
        self.down = self.failing = False
        self.pace = 1.0

    def resume(self) -> None:
        """Look at the queue at once (after `restart` and the requests routed to it then)."""
        self.doing = NOTHING
        self.busy.open(self.agenda.now)
        self._begin()

    def _at(self, time_s: float) -> None:
        self._version += 1
        if self._chaining and self.agenda.is_next(time_s):
            self._chained = time_s  # `_end` goes on with it: nothing else would run before it
        else:
            self.agenda.at_slot(self._slot, time_s, self._version)

    def _begin(self) -> None:
        """Start the next iteration, or a decode run, or go idle."""
        now, batch = self.agenda.now, self.batch
        model, prices = self.model, self._prices  # as of now, for a decode run
        if self.waiting:
            self._admit(self)
        if not len(batch):
            self.doing = NOTHING
            self.busy.close(now)
            return
        next_blocks = batch.used_blocks()
        if next_blocks > self.limits.kv_blocks and len(batch) > 1:
            self._make_room(self, next_blocks)
            next_blocks = batch.used_blocks()
        decodes = batch.decodes
        context = batch.cached_tokens() / decodes if decodes else 0.0
        self.iteration_start_s = now
        self._held = next_blocks
        if batch.prefilling:
            chunks = self._chunks_of(self, decodes, batch.prefilling)
            tokens = attended = 0
            for seq, take in chunks:
                tokens += take
                attended += (2 * seq.prefilled + take) * take  # positions [p, p + take) see 2p + take on average
            prompt = attended / tokens
            swap_s, self.swap_s = self.swap_s, 0.0
            self._chunks, self._tokens, self.doing = chunks, tokens, PREFILL
            iteration_s = prices.iteration_s(decodes, context, tokens, prompt) if prices is not None \
                else model.iteration_s(decodes, context, tokens, prompt)
            self._at(now + (swap_s + self.pace * iteration_s))
            return
        self._run_model, self._run_prices, self._run_context = model, prices, context
        if self.swap_s > 0.0:  # KV copies owed from preemption or readmission come first
            swap_s, self.swap_s = self.swap_s, 0.0
            self.doing = SWAP
            self._at(now + swap_s)
        else:
            self._decode_run()

    def _span_s(self, steps: int) -> float:
        """Seconds of the run's first `steps` iterations at pace 1."""
        prices, decodes, context = self._run_prices, self.batch.decodes, self._run_context
        return prices.decode_span_s(decodes, context, steps) if prices is not None \
            else self._run_model.decode_span_s(decodes, context, steps)

    def _decode_run(self) -> None:
        now = self.agenda.now
        steps = self.batch.decode_steps(self._held, self.limits.kv_blocks)
        pace = self.pace
        span_s = pace * self._span_s(steps)
        self._run_steps, self._run_start_s, self._run_span_s, self._run_pace = steps, now, span_s, pace
        self.doing, self._cuttable = DECODE, True
        self._at(now + span_s)

    def _cut(self) -> None:
        """An arrival or a slowdown: the decode run stops after the iteration in flight."""
        self._cuttable = False
        now, start_s, pace, steps = self.agenda.now, self._run_start_s, self._run_pace, self._run_steps
        if now < start_s + self._run_span_s:
            prices, decodes, context, budget_s = self._run_prices, self.batch.decodes, self._run_context, \
                (now - start_s) / pace
            within = prices.decode_steps_within(decodes, context, steps, budget_s) if prices is not None \
                else self._run_model.decode_steps_within(decodes, context, steps, budget_s)
            self._run_steps = steps = min(steps, within + 1)
            self._at(now + max(0.0, start_s + pace * self._span_s(steps) - now))

    def _end(self, version: int) -> None:
        """The iteration, swap or decode run in flight ends (unless a cut or a failure replaced it); while the
        next one would also be the agenda's next action, it ends here too."""
        if version != self._version:
            return
        agenda = self.agenda
        self._chaining = True
        while True:
            self._chained = -1.0
            if self.doing == SWAP:
                self._decode_run()
            else:
                now = agenda.now
                start = self.iteration_start_s
                assert start is not None
                if self.doing == PREFILL:
                    held = float(self._held)
                    self._prefilled(now, start)
                else:
                    held = self._ran(now, start)
                self.busy_s += now - start
                self.iteration_start_s = None
                self.kv_block_s += held * (now - start)
                self._begin()
            if self._chained < 0.0:
                break
            agenda.now = self._chained
        self._chaining = False

    def _prefilled(self, now: float, start: float) -> None:
        batch, times = self.batch, self.times
        share_s = (now - start) / (self._tokens + batch.decodes)
        self.decode_share_s += share_s
        ready = False
        for seq, take in self._chunks:
            seq.prefilled += take
            seq.work_s += take * share_s
            if seq.prefilled >= seq.prefill_target:  # prefilled: decoding from the next iteration
                seq.mark_s = self.decode_share_s
                if seq.prefix >= 0 and self.limits.prefix_slots > 0:
                    self._remember(seq.prefix)
                ready = True
        done = batch.advance(1) if batch.decodes else NOBODY
        for seq in done:
            times.finish_s[seq.index] = now
        finished = len(done)
        handoff = self.handoff
        moving: list[Seq] = []
        for seq, _ in self._chunks:
            if not ready or seq.prefilled < seq.prefill_target:
                continue
            batch.prefilled(seq)
            if seq.generated == 0:
                times.first_token_s[seq.index] = now
            seq.generated += 1
            if seq.generated >= seq.output_tokens:
                times.finish_s[seq.index] = now
                finished += 1
                batch.drop(seq)
            elif handoff is not None:
                batch.drop(seq)
                moving.append(seq)
            else:
                batch.join(seq)
        if ready:
            batch.settle_prefilling()
        if finished:
            self.settled(finished)
        for seq in moving:
            seq.upstream, seq.work_s = (self.number, seq.work_s), 0.0
            handoff(seq)  # type: ignore[misc]
        if finished or moving:
            self._moved(self.load - finished - len(moving))

    def _ran(self, now: float, start: float) -> float:
        """A decode run ended: the blocks held on average over it."""
        steps = self._run_steps
        batch = self.batch
        decodes = batch.decodes
        self.decode_share_s += (now - start) / decodes
        # each sequence gains a block every block_tokens iterations: on average over the run
        held = self._held + decodes * (steps - 1) / (2.0 * self.limits.block_tokens)
        done = batch.advance(steps)
        if done:
            for seq in done:
                self.times.finish_s[seq.index] = now
            self.settled(len(done))
            self._moved(self.load - len(done))
        return held
