"""The GPU pool on its own: gang allocation under fifo, priority and backfill, placement, quotas, preemption
choice, node failures and repairs, failure listeners and time accounting, on a 4-node x 8-GPU cluster with
requests made at chosen instants; and a property: whatever the requests, releases and failures, no GPU is
ever granted twice and free + allocated GPUs always make the whole cluster."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import get_args

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.fairshare import FairShare
from simulator.scenario.policies import SchedulerName

NODES, GPN = 4, 8


@dataclass
class Holder:
    """A workload that asks for GPUs at `ask_s`, holds them `hold_s` once granted, then gives them back."""

    count: int
    ask_s: float
    hold_s: float
    priority: int = 0
    estimate_s: float | None = None  # what it tells the scheduler (default: hold_s)
    tenant: str = ""
    granted_s: float | None = None
    ids: GpuIds = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def run(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        yield env.timeout(self.ask_s)
        estimate = self.hold_s if self.estimate_s is None else self.estimate_s
        ids = yield cluster.request(self.count, self.priority, estimate, self.tenant)
        assert isinstance(ids, np.ndarray)
        self.granted_s, self.ids = env.now, ids
        yield env.timeout(self.hold_s)
        cluster.release(ids)


@dataclass
class Witness:
    """A holder of nodes that writes down their failures and slowdowns (and never stays slowed: nothing is
    evicted for it)."""

    name: str = ""
    told: list[tuple[str, int, str]] = field(default_factory=list)
    slowed: list[tuple[int, float]] = field(default_factory=list)

    def crash(self, node: int, cause: str) -> None:
        self.told.append((self.name, node, cause))

    def slow(self, node: int, factor: float) -> None:
        self.slowed.append((node, factor))

    def is_slowed(self, node: int) -> bool:
        return False


def play(holders: list[Holder], policy: SchedulerName = "fifo", until: float | None = None,
         quotas: dict[str, int] | None = None, fair_share: FairShare | None = None) -> Cluster:
    """Run the holders on a fresh 4 x 8 cluster; the grant times are left on them."""
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN, policy, quotas=quotas, fair_share=fair_share)
    for holder in holders:
        env.process(holder.run(env, cluster))
    env.run(until=until)
    return cluster


def grants(holders: list[Holder]) -> list[float | None]:
    return [h.granted_s for h in holders]


def nodes_of(ids: GpuIds) -> list[int]:
    return sorted({int(g) // GPN for g in ids})


def granted(event: simpy.Event) -> GpuIds:
    """The GPUs of a request granted already."""
    assert event.triggered
    ids = event.value
    assert isinstance(ids, np.ndarray)
    return ids


def take(cluster: Cluster, count: int, priority: int = 0) -> GpuIds:
    """Ask for GPUs that are free now."""
    return granted(cluster.request(count, priority))


# --- requests and policies --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, NODES * GPN + 1])
def test_impossible_requests_are_refused(count: int) -> None:
    cluster = Cluster(simpy.Environment(), NODES, GPN)
    with pytest.raises(ValueError, match="cannot allocate"):
        cluster.request(count)


def test_a_request_that_fits_is_granted_at_once_and_gang_waits_otherwise() -> None:
    holders = [Holder(24, 0.0, 10.0), Holder(16, 1.0, 5.0), Holder(8, 2.0, 5.0)]
    cluster = play(holders)
    # FIFO: the 16-GPU head waits for the 24 to come back at 10; the 8 behind it waits too although 8 are free
    assert grants(holders) == [0.0, 10.0, 10.0]
    assert cluster.free.all() and cluster.waiting_requests == 0


def test_priority_serves_higher_priority_first_then_submission_order() -> None:
    """The whole cluster is held 0-10; three requests queue: (prio 0, 8 GPUs), (prio 5, 32), (prio 5, 8)."""
    fifo = [Holder(32, 0.0, 10.0), Holder(8, 1.0, 10.0), Holder(32, 2.0, 10.0, 5), Holder(8, 3.0, 10.0, 5)]
    priority = [Holder(h.count, h.ask_s, h.hold_s, h.priority) for h in fifo]
    play(fifo, "fifo")
    play(priority, "priority")
    assert grants(fifo) == [0.0, 10.0, 20.0, 30.0]
    assert grants(priority) == [0.0, 20.0, 10.0, 20.0]


def backfill_case() -> list[Holder]:
    """16 GPUs held 0-100; the whole cluster asked at 1 (its reservation: 100); 8 GPUs for 50 s asked at 2
    (done by 100: may start now); 8 GPUs for 150 s asked at 3 (would delay the head: waits)."""
    return [Holder(16, 0.0, 100.0), Holder(32, 1.0, 10.0), Holder(8, 2.0, 50.0), Holder(8, 3.0, 150.0)]


@pytest.mark.parametrize(("policy", "expected"), [
    ("fifo", [0.0, 100.0, 110.0, 110.0]),
    ("priority", [0.0, 100.0, 110.0, 110.0]),
    ("backfill", [0.0, 100.0, 2.0, 110.0]),
])
def test_backfill_starts_only_what_does_not_delay_the_head(policy: SchedulerName,
                                                          expected: list[float]) -> None:
    holders = backfill_case()
    play(holders, policy)
    assert grants(holders) == expected


def test_backfill_may_use_gpus_the_head_will_not_need_for_as_long_as_it_likes() -> None:
    """16 GPUs held to 100; 24 asked at 1 (reserved at 100 with 8 to spare); 8 GPUs for 500 s fit the spare 8."""
    holders = [Holder(16, 0.0, 100.0), Holder(24, 1.0, 10.0), Holder(8, 2.0, 500.0)]
    play(holders, "backfill")
    assert grants(holders) == [0.0, 100.0, 2.0]


def test_backfill_trusts_estimates_not_actual_holding_times() -> None:
    """An 8-GPU job claims 50 s but holds 200: it backfills, and the head starts only when it is done."""
    holders = [Holder(16, 0.0, 100.0), Holder(32, 1.0, 10.0), Holder(8, 2.0, 200.0, estimate_s=50.0)]
    play(holders, "backfill")
    assert grants(holders) == [0.0, 202.0, 2.0]


def test_a_cancelled_request_leaves_the_queue_and_unblocks_those_behind() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    first = cluster.request(24)
    head = cluster.request(16)
    behind = cluster.request(8)
    assert first.triggered and not head.triggered and not behind.triggered
    assert cluster.cancel(head)
    assert behind.triggered and cluster.waiting_requests == 0
    assert not cluster.cancel(first)  # already granted: the caller's to release


# --- placement ----------------------------------------------------------------------------------------------


def test_whole_nodes_in_index_order_and_small_jobs_on_the_fullest_node() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    assert take(cluster, 16).tolist() == list(range(16))
    assert nodes_of(take(cluster, 4)) == [2]
    assert nodes_of(take(cluster, 2)) == [2]  # best fit: node 2 has 4 free, node 3 all 8
    assert nodes_of(take(cluster, 6)) == [3]
    assert take(cluster, 2).tolist() == [22, 23]  # the last free GPUs of node 2


def test_a_job_that_fits_a_unit_stays_inside_one() -> None:
    """Units of two nodes: after node 0 is taken, a two-node job goes to unit 1 (nodes 2, 3), not nodes 1, 2."""
    by_unit = Cluster(simpy.Environment(), NODES, GPN, unit_nodes=2)
    plain = Cluster(simpy.Environment(), NODES, GPN)
    for cluster in (by_unit, plain):
        assert nodes_of(take(cluster, 8)) == [0]
    assert nodes_of(take(by_unit, 16)) == [2, 3]
    assert nodes_of(take(plain, 16)) == [1, 2]


def test_what_does_not_fill_whole_nodes_goes_to_the_nodes_with_most_free_gpus() -> None:
    """After 6 GPUs on node 0 and 3 on node 1, 13 GPUs take node 2 whole and 5 of node 3 (8 free), not of node 1
    (5 free): the rest goes to the emptiest nodes first, keeping a job on few nodes. (The docstring of
    Cluster._place says "partly free nodes, fullest first"; this is what the code does.)"""
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    assert nodes_of(take(cluster, 6)) == [0]  # 2 left
    assert nodes_of(take(cluster, 3)) == [1]  # node 0 cannot: 5 left
    ids = take(cluster, 13)
    assert nodes_of(ids) == [2, 3] and np.count_nonzero(ids // GPN == 3) == 5
    ids = take(cluster, 7)  # no node has 7: 5 of node 1, then 2 of node 3 (3 free) before node 0 (2)
    assert np.bincount(ids // GPN, minlength=NODES).tolist() == [0, 5, 0, 2]


def test_failed_nodes_are_never_granted() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    cluster.fail_node(0, 100.0, "node")
    ids = take(cluster, 24)
    assert nodes_of(ids) == [1, 2, 3]
    later = cluster.request(8)
    assert not later.triggered
    env.run(until=101.0)
    assert later.triggered and nodes_of(granted(later)) == [0]


# --- release and time accounting ----------------------------------------------------------------------------


def test_allocated_time_is_counted_per_gpu_including_allocations_still_held() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    ids = take(cluster, 8)
    env.run(until=30.0)
    cluster.release(ids)
    env.run(until=40.0)
    assert take(cluster, 8).tolist() == ids.tolist()  # the same node again (the first of the fullest)
    env.run(until=100.0)
    allocated = cluster.allocated_seconds()
    assert allocated[:8].tolist() == [30.0 + 60.0] * 8
    assert allocated[8:].sum() == 0.0
    assert cluster.allocated_s[:8].tolist() == [30.0] * 8  # only finished allocations


def test_busy_time_and_energy_are_recorded_as_told() -> None:
    cluster = Cluster(simpy.Environment(), NODES, GPN)
    cluster.record_busy(8, 10.0, 700.0)
    cluster.record_busy(16, 2.5, 1000.0)
    assert cluster.busy_gpu_s == 80.0 + 40.0
    assert cluster.busy_energy_j == 80.0 * 700.0 + 40.0 * 1000.0


# --- quotas and fair share --------------------------------------------------------------------------------------


def test_a_tenant_over_its_quota_waits_without_blocking_others() -> None:
    """Tenant a may hold 16: its second request (8 at t=1) waits until its first is back at 50, while tenant b's
    later request is served at once (the queue is FIFO but the over-quota request blocks nobody)."""
    holders = [Holder(16, 0.0, 50.0, tenant="a"), Holder(8, 1.0, 10.0, tenant="a"), Holder(8, 2.0, 10.0, tenant="b")]
    cluster = play(holders, quotas={"a": 16}, until=5.0)
    assert grants(holders) == [0.0, None, 2.0]
    assert cluster.tenant_gpus == {"a": 16, "b": 8}
    cluster.env.run(until=100.0)
    assert grants(holders) == [0.0, 50.0, 2.0]
    assert cluster.tenant_gpus == {"a": 0, "b": 0}


@pytest.mark.parametrize(("fair", "expected"), [(True, [0.0, 110.0, 100.0]), (False, [0.0, 100.0, 110.0])])
def test_fair_share_puts_a_light_tenant_ahead_of_a_heavy_one(fair: bool, expected: list[float]) -> None:
    """Tenant heavy holds the whole cluster 0-100 and asks for it again at 50, light at 60: equal priorities,
    so heavy would go first, but with fair share light's unused share earns the larger bonus (10 x 1 against
    10 x 2^(-1 / 0.5)) and light goes first."""
    share = FairShare(["heavy", "light"], {}, half_life_s=1000.0, weight=10.0)
    holders = [Holder(32, 0.0, 100.0, tenant="heavy"), Holder(32, 50.0, 10.0, tenant="heavy"),
               Holder(32, 60.0, 10.0, tenant="light")]
    play(holders, "priority", fair_share=share if fair else None)
    assert grants(holders) == expected


# --- preemption ------------------------------------------------------------------------------------------------


@dataclass
class Victims:
    """Preemptible allocations on one cluster: who was asked to stop, each releasing at once when asked."""

    env: simpy.Environment
    cluster: Cluster
    stopped: list[str] = field(default_factory=list)

    def take(self, name: str, count: int, priority: int, preemptible: bool = True) -> GpuIds:
        ids = take(self.cluster, count, priority)
        if preemptible:
            self.cluster.make_preemptible(ids, priority, self._stop(name, ids))
        return ids

    def _stop(self, name: str, ids: GpuIds) -> Callable[[], None]:
        def stop() -> None:
            self.stopped.append(name)

            def release() -> Generator[simpy.Event, object, None]:
                yield self.env.timeout(0.0)
                self.cluster.release(ids)

            self.env.process(release())  # as a job does: an interrupt, handled at the same instant

        return stop


def victims_on(preemption: bool = True) -> Victims:
    """The whole cluster held: p1 (priority 1, from t=0), p2 and p3 (priority 0, from t=1 and t=2), n (not
    preemptible, priority 0, from t=3)."""
    env = simpy.Environment()
    v = Victims(env, Cluster(env, NODES, GPN, "priority", preemption=preemption))
    for name, start_s, priority, preemptible in (("p1", 0, 1, True), ("p2", 1, 0, True), ("p3", 2, 0, True),
                                                  ("n", 3, 0, False)):
        env.run(until=start_s + 0.5)
        v.take(name, 8, priority, preemptible)
    return v


def test_preemption_stops_the_lowest_priority_most_recent_allocations_first() -> None:
    v = victims_on()
    urgent = v.cluster.request(16, priority=5, tenant="urgent")
    v.env.run(until=10.0)
    assert v.stopped == ["p3", "p2"]
    assert urgent.triggered and nodes_of(granted(urgent)) == [1, 2]
    assert v.cluster.preemptions == {"urgent": 2}


def test_preemption_takes_nothing_when_even_every_victim_would_not_make_room() -> None:
    v = victims_on()
    urgent = v.cluster.request(32, priority=5)  # n is not preemptible: at most 24 could be freed
    v.env.run(until=10.0)
    assert v.stopped == [] and not urgent.triggered
    assert v.cluster.preemptions == {}


def test_preemption_spares_equal_or_higher_priorities_and_needs_to_be_enabled() -> None:
    v = victims_on()
    v.cluster.request(24, priority=1)  # p1 has priority 1 too: only p2 and p3 (16) are below
    v.env.run(until=10.0)
    assert v.stopped == []
    off = victims_on(preemption=False)
    off.cluster.request(8, priority=5)
    off.env.run(until=10.0)
    assert off.stopped == []


def test_gpus_on_their_way_back_are_not_preempted_for_twice() -> None:
    """Two urgent requests at the same instant: the first stops p3 (8 GPUs); while p3's GPUs are on their way
    back nobody else is stopped; once the first is served, p2 is stopped for the second."""
    v = victims_on()
    first = v.cluster.request(8, priority=5)
    second = v.cluster.request(8, priority=5)
    assert v.stopped == ["p3"]
    v.env.run(until=10.0)
    assert v.stopped == ["p3", "p2"]
    assert first.triggered and second.triggered


def test_a_stop_that_releases_at_once_is_handled() -> None:
    """make_preemptible allows a stop that gives the GPUs back at once: the victims chosen together are all
    draining before the first stop, so its release (which re-enters the grant) stops nobody else."""
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN, "priority", preemption=True)
    for _ in range(NODES):
        ids = take(cluster, GPN)
        cluster.make_preemptible(ids, 0, partial(cluster.release, ids))
    urgent = cluster.request(16, priority=5, tenant="urgent")
    assert urgent.triggered and cluster.preemptions == {"urgent": 2}
    assert np.count_nonzero(cluster.free) == 0


# --- failures, repairs and listeners -----------------------------------------------------------------------


def test_a_failed_node_is_down_for_its_repair_and_counted_in_down_gpu_seconds() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    env.run(until=10.0)
    cluster.fail_node(1, 100.0, "gpu")
    back = cluster.repaired(1)
    assert not cluster.up[1] and not back.triggered
    assert cluster.repaired(0).triggered  # a healthy node: at once
    env.run(until=60.0)
    assert cluster.down_gpu_seconds() == 50.0 * GPN
    env.run(until=200.0)
    assert cluster.up[1] and back.triggered
    assert cluster.down_gpu_seconds() == 100.0 * GPN
    assert cluster.failure_log == [(10.0, 1, 100.0, "gpu")]


def test_a_node_failing_again_while_down_is_counted_but_keeps_its_first_repair() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    cluster.fail_node(2, 100.0, "a")
    env.run(until=20.0)
    cluster.fail_node(2, 500.0, "b")
    env.run(until=101.0)
    assert cluster.up[2]
    assert cluster.node_failures == 2 and len(cluster.failure_log) == 2
    assert cluster.down_gpu_seconds() == 100.0 * GPN


def test_every_holder_of_a_shared_node_is_told_of_its_failure_until_it_lets_go() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    told: list[tuple[str, int, str]] = []
    first, second, big = take(cluster, 4), take(cluster, 4), take(cluster, 16)
    assert nodes_of(first) == nodes_of(second) == [0] and nodes_of(big) == [1, 2]
    for name, ids in (("first", first), ("second", second), ("big", big)):
        cluster.hold(ids, Witness(name, told))
    cluster.fail_node(0, 0.0, "psu")
    cluster.fail_node(2, 0.0, "nic")
    cluster.fail_node(3, 0.0, "idle")
    assert told == [("first", 0, "psu"), ("second", 0, "psu"), ("big", 2, "nic")]
    cluster.release(first)
    env.run(until=1.0)
    cluster.fail_node(0, 0.0, "again")
    assert told[-1] == ("second", 0, "again") and len(told) == 4
    cluster.release(second)
    cluster.fail_node(0, 0.0, "nobody")
    assert len(told) == 4


def test_a_slow_node_tells_its_holder_with_the_straggler_figures() -> None:
    cluster = Cluster(simpy.Environment(), NODES, GPN)
    witness = Witness()
    cluster.hold(take(cluster, 8), witness)
    cluster.slow_node(0, 1.5, 30.0, 600.0, "thermal")
    cluster.slow_node(3, 2.0, 30.0, 600.0, "idle")  # nobody holds node 3
    assert witness.slowed == [(0, 1.5)]
    assert cluster.up.all()  # slow, not down


def test_the_checkpoint_store_is_down_for_its_repair() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN)
    assert cluster.storage_repaired().triggered
    cluster.fail_storage(50.0)
    cluster.fail_storage(500.0)  # already down: counted, the first repair stands
    back = cluster.storage_repaired()
    assert not cluster.storage_up and not back.triggered and cluster.storage_failures == 2
    env.run(until=51.0)
    assert cluster.storage_up and back.triggered


# --- the invariant ------------------------------------------------------------------------------------------------

Op = tuple[str, int, float]  # ("ask" | "give" | "fail", GPUs | index | node, delay before it)

operations = st.lists(st.one_of(
    st.tuples(st.just("ask"), st.integers(1, NODES * GPN), st.floats(0.0, 5.0)),
    st.tuples(st.just("give"), st.integers(0, 50), st.floats(0.0, 5.0)),
    st.tuples(st.just("fail"), st.integers(0, NODES - 1), st.floats(0.0, 5.0)),
), max_size=40)


@settings(max_examples=80, deadline=None)
@given(ops=operations, policy=st.sampled_from(get_args(SchedulerName)), priorities=st.lists(st.integers(0, 3)))
def test_no_gpu_is_ever_granted_twice_and_free_plus_allocated_is_everything(
        ops: list[Op], policy: SchedulerName, priorities: list[int]) -> None:
    env = simpy.Environment()
    cluster = Cluster(env, NODES, GPN, policy)
    events: list[simpy.Event] = []
    released: set[int] = set()

    def check() -> None:
        held = [granted(e) for i, e in enumerate(events) if e.triggered and i not in released]
        taken = np.concatenate(held) if held else np.empty(0, dtype=np.int64)
        assert np.unique(taken).size == taken.size  # nobody shares a GPU
        assert np.array_equal(np.sort(taken), np.flatnonzero(~cluster.free))  # the rest is free
        assert cluster.waiting_requests == sum(1 for e in events if not e.triggered)

    def drive() -> Generator[simpy.Event, object, None]:
        for number, (kind, value, delay_s) in enumerate(ops):
            yield env.timeout(delay_s)
            if kind == "ask":
                priority = priorities[number % len(priorities)] if priorities else 0
                event = cluster.request(value, priority, estimate_s=delay_s * 3)
                events.append(event)
                if event.triggered:
                    assert cluster.up[granted(event) // GPN].all()  # granted on healthy nodes only
            elif kind == "give":
                live = [i for i, e in enumerate(events) if e.triggered and i not in released]
                if live:
                    index = live[value % len(live)]
                    released.add(index)
                    cluster.release(granted(events[index]))
            else:
                cluster.fail_node(value, 7.0, "fuzz")
            check()

    env.process(drive())
    env.run(until=1000.0)
    check()
    assert cluster.up.all()  # every repair done
