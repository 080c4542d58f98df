"""A service's replicas deployed as SimPy processes: requests arrive, its router picks a replica, replicas fail
and come back (their requests retried elsewhere or failed), a decode pool takes prefilled requests over, and an
autoscaler may grow and shrink the main pool. Every request ends completed, failed (it can never fit, or a
failure lost it under the fail policy), queued or running."""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import simpy

from simulator.engine.serving.admission import ADMISSIONS
from simulator.engine.serving.agenda import Agenda
from simulator.engine.serving.autoscaler import autoscale
from simulator.engine.serving.loads import DOWN, Pool
from simulator.engine.serving.replica import Replica
from simulator.engine.serving.requests import Seq, ServingOutcome, Times
from simulator.engine.serving.router import ROUTERS, Router
from simulator.engine.spans import ReplicaEvent
from simulator.models.workload.serving_time import IterationModel, priced
from simulator.plan.limits import ReplicaLimits
from simulator.plan.serving import Autoscaler, DecodePool
from simulator.scenario.policies import AdmissionName, RouterName


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
    """The replicas of one service, its router, and the requests waiting for a replica to come up; built by
    `deploy_serving` on an environment that may hold other processes (training jobs, failures)."""

    env: simpy.Environment
    agenda: Agenda  # arrivals, iterations and KV transfers: the deployment's own events
    times: Times  # per-request marks, handed to the outcome by `close`
    pool: Pool[Replica]
    decoders: Pool[Replica]
    router: Router
    outcome: ServingOutcome
    decode: DecodePool | None
    on_failure: FailurePolicy
    initial: int  # main-pool replicas brought up first
    autoscaler: Autoscaler | None = None  # watches the load once the replicas are up
    stranded: deque[Seq] = field(default_factory=deque)  # no replica of its pool was up
    moving: set[int] = field(default_factory=set)  # KV caches between the pools
    transfer_factor: float = 1.0  # KV transfers take this much longer: other workloads on their links
    unsettled: int = 0  # requests not yet completed or failed
    done: simpy.Event | None = None  # fires when every request is completed or failed
    # GPUs for a replica the autoscaler starts: an event that fires when they are granted (None: at once),
    # and how to give them back when it is switched off
    acquire: Callable[[int], simpy.Event] | None = None
    give_back: Callable[[int], None] | None = None
    starting: set[int] = field(default_factory=set)  # replicas waiting for their GPUs
    blockers: dict[int, list[simpy.Event]] = field(default_factory=dict)  # further repairs a failed replica awaits
    log: list[ReplicaEvent] = field(default_factory=list)  # outages and autoscaler switches, in time order

    @property
    def everyone(self) -> list[Replica]:
        """Every replica, by number (the main pool's first)."""
        return self.pool.members + self.decoders.members

    def settle(self, count: int) -> None:
        """`count` requests completed or failed."""
        self.unsettled -= count
        if self.unsettled == 0 and self.done is not None and not self.done.triggered:
            self.agenda.in_step(self._finish)

    def _finish(self) -> None:
        assert self.done is not None
        if not self.done.triggered:
            self.done.succeed()

    def bring_up(self) -> None:
        """Start the first replicas and the decode pool (once their GPUs are granted)."""
        self.agenda.outside()
        for replica in self.pool.members[:self.initial] + self.decoders.members:
            replica.down, replica.provisioned_since_s = False, self.env.now
        self.repaired()
        if self.autoscaler is not None:
            self.env.process(autoscale(self, self.autoscaler))

    def crash(self, number: int, until: simpy.Event | float) -> None:
        """Replica `number` fails until `until` (the repair, or seconds); a replica already failed waits for
        this repair too; one that is off or starting is not affected. Its requests are retried or failed (by
        the failure policy) at once."""
        replica = self.everyone[number]
        if replica.failing and isinstance(until, simpy.Event):
            self.blockers[number].append(until)
        elif not replica.down:
            self.agenda.outside()
            self.outcome.outages += 1
            self.log.append(ReplicaEvent("failure", number, self.env.now))
            self.blockers[number] = []
            replica.halt()  # at once; its requests are retried or failed later in this instant
            self.agenda.at(self.agenda.now, self._crashed, (replica, until))

    def _crashed(self, failure: tuple[Replica, simpy.Event | float]) -> None:
        replica, until = failure
        self.evict(replica.write_off())
        self.agenda.process(self._recover(replica, until))

    def _recover(self, replica: Replica, until: simpy.Event | float) -> Generator[simpy.Event, object, None]:
        """Wait for the repair and any other repair learnt of meanwhile; then the replica serves again."""
        yield until if isinstance(until, simpy.Event) else self.env.timeout(until)
        blockers = self.blockers[replica.number]
        while blockers:
            yield blockers.pop()
        self.agenda.outside()
        replica.restart()
        self._repaired_at(replica.number)
        self.repaired()
        replica.resume()

    def _repaired_at(self, number: int) -> None:
        """Close replica `number`'s open outage in the log at now."""
        at = max(i for i, event in enumerate(self.log) if event.kind == "failure" and event.replica == number)
        self.log[at] = self.log[at]._replace(end_s=float(self.env.now))

    def place(self, number: int, model: IterationModel) -> None:
        """Replica `number` iterates as priced on the GPUs it was given (it is down until placed)."""
        self.everyone[number].price_with(priced(model))

    def slow(self, number: int, factor: float) -> None:
        """A GPU of replica `number` runs `factor` times slower (fail-slow) until the replica fails or is
        evicted; a replica that is down is not affected."""
        replica = self.everyone[number]
        if not replica.down:
            self.agenda.outside()
            replica.slow(factor)

    def is_slowed(self, number: int) -> bool:
        """Replica `number` is up and a straggler slows it."""
        replica = self.everyone[number]
        return not replica.down and replica.pace > 1.0

    def close(self) -> ServingOutcome:
        """The outcome at the current time: what is still queued or running, and time accounts closed."""
        env, outcome, everyone = self.env, self.outcome, self.everyone
        outcome.queued_at_end = sum(len(r.waiting) for r in everyone) + len(self.stranded)
        outcome.running_at_end = sum(r.batch_size for r in everyone) + len(self.moving)
        in_batches = [s.index for r in everyone for s in r.batch.members.values()]
        outcome.running = np.array(sorted(in_batches + list(self.moving)), dtype=np.int64)
        outcome.end_s = float(env.now)
        self.times.close(outcome)
        for replica in everyone:  # iterations cut by the horizon are busy time too
            assert replica.load == replica.outstanding + (DOWN if replica.down else 0), "a replica's load drifted"
            if replica.iteration_start_s is not None:
                replica.busy_s += env.now - replica.iteration_start_s
                replica.iteration_start_s = None
            replica.busy.close(env.now)
            outcome.busy_s[replica.number], outcome.kv_block_s[replica.number] = replica.busy_s, replica.kv_block_s
            self.stop_paying(replica)
        return outcome

    def stop_paying(self, replica: Replica) -> None:
        """Close `replica`'s provisioned (paid) time at now: it is switched off, or its GPUs are given back."""
        if replica.provisioned_since_s is not None:
            self.outcome.active_s[replica.number] += self.env.now - replica.provisioned_since_s
            replica.provisioned_since_s = None

    def retire(self) -> None:
        """Every request is settled and the service gives all its GPUs back: no replica is paid for after now
        (the run may go on to its horizon for other workloads)."""
        for replica in self.everyone:
            self.stop_paying(replica)

    def route(self, seq: Seq) -> None:
        """Send a request to its pool: the decode pool once prefilled (with a decode pool), else the main."""
        if seq.swapped:  # its KV cache stays in the old replica's host memory: recompute instead
            seq.swapped = False
            seq.restart()
        to_decoders = self.decode is not None and seq.decoding and seq.generated > 0
        replica = self.router.pick(self.decoders if to_decoders else self.pool, seq)
        if replica is None:
            self.stranded.append(seq)
            return
        if self.times.replica[seq.index] < 0:
            self.times.replica[seq.index] = replica.number
        self.times.served[seq.index] = replica.number
        replica.submit(seq)

    def hand_off(self, seq: Seq) -> None:
        """A prefill replica passes `seq` on: its KV cache moves to the decode pool."""
        assert self.decode is not None
        self.moving.add(seq.index)
        agenda = self.agenda
        agenda.at(agenda.now + (seq.input_tokens + seq.generated) * self.decode.transfer_s_per_token
                  * self.transfer_factor, self._moved, seq)

    def _moved(self, seq: Seq) -> None:
        self.moving.discard(seq.index)
        self.route(seq)

    def evict(self, lost: list[Seq]) -> None:
        """Requests on a failed replica: restarted from their prompt and sent tokens, or failed."""
        for seq in lost:
            if self.on_failure is FailurePolicy.FAIL:
                self.outcome.failed[seq.index] = True
                self.settle(1)
                continue
            self.outcome.retried += 1
            self.times.retries[seq.index] += 1
            seq.restart()
            self.route(seq)

    def repaired(self) -> None:
        """A replica is back (or new): stranded requests, and those still waiting in other replicas' queues,
        are routed again in arrival order, as from one queue in front of the replicas."""
        self.agenda.outside()
        waiting, self.stranded = list(self.stranded), deque()
        for replica in self.everyone:
            if not replica.down:
                waiting += replica.waiting
                replica.waiting = deque()
                replica.recount()
        for seq in sorted(waiting, key=lambda seq: seq.index):
            self.route(seq)

    def outages(self, outages: Sequence[Outage]) -> Generator[simpy.Event, object, None]:
        """Take replicas down as listed (an outage overlapping an earlier one merges into it)."""
        for outage in sorted(outages, key=lambda o: o.start_s):
            if outage.start_s > self.env.now:
                yield self.env.timeout(outage.start_s - self.env.now)
            self.crash(outage.replica, outage.duration_s)


def deploy_serving(env: simpy.Environment, model: IterationModel, limits: ReplicaLimits, replicas: int,
                   arrival_s: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray,
                   router: RouterName, rng: np.random.Generator, decode: DecodePool | None = None,
                   on_failure: FailurePolicy = FailurePolicy.RETRY,
                   autoscaler: Autoscaler | None = None, prefix_group: np.ndarray | None = None,
                   prefix_tokens: int = 0, admission: AdmissionName = "fcfs") -> Deployment:
    """Processes that serve the requests (sorted absolute arrival times) on identical replicas, all down until
    `bring_up()`; with a decode pool, the first `replicas` only prefill (replica numbers continue into the
    decode pool). With an autoscaler, the main pool, numbered first, may grow to the autoscaler's maximum.
    Requests arriving while no replica is up wait for one. With `prefix_group` (per request, -1 for none),
    the first `prefix_tokens` of a request's prompt are shared with its group (cached by `limits.prefix_slots`).
    `router` and `admission` name registered policies (engine/serving/router.py, admission.py)."""
    count = len(arrival_s)
    nan = np.full(count, math.nan)
    main = max(replicas, autoscaler.max_replicas) if autoscaler else replicas
    sizes = [limits.kv_blocks] * main + ([decode.limits.kv_blocks] * decode.replicas if decode else [])
    outcome = ServingOutcome(np.asarray(arrival_s, dtype=float), nan.copy(), nan.copy(), np.zeros(count, dtype=bool),
                             np.zeros(count, dtype=bool), np.full(count, -1, dtype=np.int64), 0, 0,
                             np.zeros(len(sizes)), np.zeros(len(sizes)), np.array(sizes), np.zeros(len(sizes)),
                             np.zeros(len(sizes)), 0, 0, 0.0)
    policy = ADMISSIONS[admission]()
    agenda, marks = Agenda(env), Times(count)
    pool = Pool([Replica(agenda, priced(model), limits, policy, outcome, marks, n) for n in range(main)])
    decoders = Pool([Replica(agenda, priced(decode.model), decode.limits, policy, outcome, marks, main + n)
                     for n in range(decode.replicas)] if decode else [])
    service = Deployment(env, agenda, marks, pool, decoders, ROUTERS[router](rng), outcome, decode, on_failure,
                         replicas, autoscaler, unsettled=count, done=env.event())
    if count == 0:
        service.done.succeed()  # type: ignore[union-attr]
    for members in (pool, decoders):
        for replica in members:
            replica.pool = members
            replica.settled = service.settle
            if decode is not None and replica.number < main:
                replica.handoff = service.hand_off
    # read one item at a time: typed arrays (compact, nothing for the collector to walk) rather than lists
    arrival_at = _typed(arrival_s, "d")
    prompts, outputs = _typed(input_tokens, "q"), _typed(output_tokens, "q")
    groups = None if prefix_group is None else _typed(prefix_group, "q")

    def arrive(first: int) -> None:
        """Requests `first`.. arriving now: all are queued before a replica starts on them."""
        now, i = agenda.now, first
        while i < count and not arrival_at[i] > now:
            marks.arrived[i] = 1
            prompt, output = int(prompts[i]), max(1, int(outputs[i]))
            service.route(Seq(i, prompt, output, prompt, prefix=-1 if groups is None else int(groups[i]),
                              prefix_tokens=min(prefix_tokens, prompt)))
            i += 1
        if i < count:
            agenda.at(now + (arrival_at[i] - now), arrive, i)  # as a SimPy timeout of the gap would end

    if count:
        now = float(env.now)
        agenda.at(now if not arrival_at[0] > now else now + (arrival_at[0] - now), arrive, 0)
    return service


def _typed(values: np.ndarray, code: str) -> array[Any]:
    """`values` as a typed array of float64 ("d") or int64 ("q")."""
    found: array[Any] = array(code)
    found.frombytes(np.ascontiguousarray(values, dtype=np.float64 if code == "d" else np.int64).tobytes())
    return found


def simulate_serving(model: IterationModel, limits: ReplicaLimits, replicas: int, arrival_s: np.ndarray,
                     input_tokens: np.ndarray, output_tokens: np.ndarray, router: RouterName,
                     rng: np.random.Generator, horizon_s: float | None = None,
                     decode: DecodePool | None = None, outages: Sequence[Outage] = (),
                     on_failure: FailurePolicy = FailurePolicy.RETRY,
                     autoscaler: Autoscaler | None = None, prefix_group: np.ndarray | None = None,
                     prefix_tokens: int = 0) -> ServingOutcome:
    """Serve the requests on their own (see `deploy_serving`), replicas up from time 0, until all are
    completed or failed or the horizon passes. Outages take replicas down; their requests are retried
    elsewhere or failed, by `on_failure`."""
    env = simpy.Environment()
    service = deploy_serving(env, model, limits, replicas, arrival_s, input_tokens, output_tokens, router, rng,
                             decode, on_failure, autoscaler, prefix_group, prefix_tokens)
    service.bring_up()
    env.process(service.outages(outages))
    assert service.done is not None
    env.run(until=service.done if horizon_s is None else env.any_of([service.done, env.timeout(horizon_s)]))
    return service.close()
