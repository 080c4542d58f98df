"""The GPU pool: gang allocation over healthy nodes under a scheduling policy (first come first served,
priority, or priority with EASY backfill), node failures and repairs, and time accounting (numpy per GPU for
allocation, scalars for busy and productive time).

Processes ask for n GPUs and get them all at once (or wait); failure processes take nodes down (or slow them)
and bring them back; whoever holds the node suffers the effect (simulator/engine/effects.py). Nothing here knows
what a GPU computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import simpy
from numpy.typing import NDArray

from simulator.engine.effects import Holder, Straggler, straggle
from simulator.engine.fairshare import FairShare
from simulator.engine.held_downtime import HeldDowntime
from simulator.engine.placement import PLACEMENTS, Free
from simulator.engine.placement import GpuIds as GpuIds
from simulator.engine.pool_ledger import PoolLedger
from simulator.engine.scheduling import POLICIES, Request
from simulator.engine.site_power import SiteAdmission
from simulator.plan.pools import Need, Shares
from simulator.scenario.policies import PlacementName, SchedulerName

FAILURE_LOG_LIMIT = 1_000_000  # records kept per run; counts stay exact beyond it


class Cluster:
    """`nodes x gpus_per_node` GPUs; gang allocation under a scheduling policy."""

    def __init__(self, env: simpy.Environment, nodes: int, gpus_per_node: int,
                 policy: SchedulerName = "fifo", preemption: bool = False,
                 unit_nodes: int = 1, quotas: dict[str, int] | None = None,
                 fair_share: FairShare | None = None, placement: PlacementName = "topology_aware",
                 rng: np.random.Generator | None = None, site_power: SiteAdmission | None = None,
                 pool_nodes: tuple[int, ...] = ()) -> None:
        self.env = env
        self.nodes = nodes
        self.gpus_per_node = gpus_per_node
        self.gpus = nodes * gpus_per_node
        self.free = np.ones(self.gpus, dtype=bool)
        self.up = np.ones(nodes, dtype=bool)
        self.allocated_s = np.zeros(self.gpus)
        self._allocated_at = np.full(self.gpus, np.nan)
        self.held_down = HeldDowntime(nodes)  # per node: time it was down while a workload held its GPUs
        self._policy = POLICIES[policy]()
        self._placement = PLACEMENTS[placement]
        self._rng = rng if rng is not None else np.random.default_rng(0)
        self.unit_nodes = unit_nodes  # nodes of one scalable unit, pod or leaf: jobs that fit stay inside one
        self.preemption = preemption  # a queued head may stop preemptible lower-priority allocations
        self._preemptible: dict[int, tuple[int, int, float, Callable[[], None]]] = {}  # key -> (prio, GPUs, t, stop)
        self._draining: dict[int, int] = {}  # preempted allocations not yet released -> GPUs
        self.preemptions: dict[str, int] = {}  # allocations preempted, by the tenant that needed the GPUs
        self.tenant_gpus: dict[str, int] = {}  # GPUs each tenant holds now
        self.quotas = dict(quotas or {})  # tenant -> most GPUs it may hold at once
        self.fair_share = fair_share  # reorders the queue by priority plus a bonus for little recent use
        self._tenant_of: dict[int, tuple[str, int]] = {}  # allocation -> (tenant, GPUs)
        self._waiting: list[Request] = []  # in grant order
        self._submitted = 0
        self._ends: dict[int, tuple[float, int]] = {}  # allocation -> (expected release time, GPUs)
        # Who holds each node, by allocation (its lowest GPU id): the first holder in a numpy array (no objects
        # per node: a 16k-GPU job would otherwise create thousands), later ones sharing a node in a dict.
        self._owner = np.full(nodes, -1, dtype=np.int64)
        self._co_owners: dict[int, set[int]] = {}  # node -> further allocations on it
        self._holders_by_key: dict[int, Holder] = {}  # allocation -> who suffers its nodes' failures
        self._repaired: dict[int, simpy.Event] = {}
        self.busy_gpu_s = 0.0  # GPU-seconds spent computing steps (kept or later lost)
        self.busy_energy_j = 0.0  # wall energy of that computing, before PUE
        self.productive_gpu_s = 0.0  # GPU-seconds of steps that count
        self.node_failures = 0
        self._down_since: dict[int, float] = {}  # failed node -> when it went down
        self._down_node_s = 0.0  # node-seconds down, repairs finished
        self.storage_failures = 0
        self.storage_up = True
        self._storage_back: simpy.Event | None = None
        self.failure_log: list[tuple[float, int, float, str]] = []  # (time, node, repair s, cause), bounded
        # pools: consecutive nodes each; the pool of every GPU (one pool: the whole cluster)
        self.pool_nodes = pool_nodes or (nodes,)
        self.pool_of_gpu = np.repeat(np.arange(len(self.pool_nodes)), np.asarray(self.pool_nodes) * gpus_per_node)
        self.by_pool = PoolLedger(self.pool_nodes, gpus_per_node)
        self.pool_full_w: tuple[float, ...] = ()  # full-load wall W per GPU in each pool, for the site budget
        self.site_power = site_power  # admission under a site power budget (policy queue), or none
        self._watts: dict[int, float | None] = {}  # request order -> full-load wall W per GPU it named

    @property
    def waiting_requests(self) -> int:
        """Workloads waiting for their GPUs."""
        return len(self._waiting)

    def request(self, count: int, priority: int = 0, estimate_s: float = math.inf, tenant: str = "",
                options: tuple[Need, ...] = (), watts_per_gpu: float | None = None) -> simpy.Event:
        """An event that succeeds with the ids of `count` GPUs on healthy nodes once the policy grants them;
        `estimate_s`, how long they will be held, lets backfilling plan around the request; `options`, the ways
        it may take them from pools (the first that fits; none: anywhere); `watts_per_gpu`, its GPUs' wall power
        at full load, what a site power budget admits it against (None: the site's figure)."""
        if not 0 < count <= self.gpus:
            raise ValueError(f"cannot allocate {count} of {self.gpus} GPUs")
        if any(sum(n for _, n in need) != count for need in options):
            raise ValueError(f"every way of splitting {count} GPUs over pools must sum to it: {options}")
        event = self.env.event()
        request = Request(count, event, priority, estimate_s, self._submitted, tenant, options)
        if self.site_power is not None:
            self._watts[request.order] = watts_per_gpu
        self._submitted += 1
        self._policy.enqueue(self._waiting, request)
        self._grant()
        return event

    def hold(self, ids: GpuIds, holder: Holder) -> None:
        """Make `holder` suffer the failures and stragglers of the nodes under `ids` until they are released."""
        key = int(ids.min())
        self._holders_by_key[key] = holder
        nodes = np.unique(ids // self.gpus_per_node)
        taken = self._owner[nodes] >= 0
        self._owner[nodes[~taken]] = key
        for node in nodes[taken].tolist():
            self._co_owners.setdefault(node, set()).add(key)

    def cancel(self, event: simpy.Event) -> bool:
        """Withdraw a request not yet granted; False if it was (its GPUs are then the caller's to release)."""
        for request in self._waiting:
            if request.event is event:
                self._waiting.remove(request)
                if self.site_power is not None:
                    self._watts.pop(request.order, None)
                    self.site_power.blocked_since.pop(request.order, None)
                self._grant()
                return True
        return False

    def make_preemptible(self, ids: GpuIds, priority: int, stop: Callable[[], None]) -> None:
        """Let higher-priority requests that cannot fit stop this allocation: `stop()` must make its holder
        release it (at once, in simulated time)."""
        self._preemptible[int(ids.min())] = (priority, ids.size, self.env.now, stop)

    def _preempt_for(self, head: Request, free: int) -> None:
        """Stop the lowest-priority, most recently started preemptible allocations until the head would fit."""
        if not self.preemption:
            return
        coming = free + self.draining_gpus()
        if coming >= head.count:
            return  # enough is already on its way back
        pools = head.pools
        victims = sorted(((prio, -start, key, count) for key, (prio, count, start, _) in self._preemptible.items()
                          if prio < head.priority and (not pools or int(self.pool_of_gpu[key]) in pools)))
        chosen = []
        for _, _, key, count in victims:
            if coming >= head.count:
                break
            chosen.append(key)
            coming += count
        if coming < head.count:
            return  # preempting everything allowed would still not make room: take nobody's GPUs
        stops = []
        for key in chosen:  # all marked draining before any stops: a stop may release (and re-enter) at once
            _, count, _, stop = self._preemptible.pop(key)
            self._draining[key] = count
            self.preemptions[head.tenant] = self.preemptions.get(head.tenant, 0) + 1
            stops.append(stop)
        for stop in stops:
            stop()

    def release(self, ids: GpuIds) -> None:
        """Return GPUs to the pool and account their allocated time."""
        self.allocated_s[ids] += self.env.now - self._allocated_at[ids]
        self._allocated_at[ids] = np.nan
        self.free[ids] = True
        key = int(ids.min())
        self._ends.pop(key, None)
        if self.site_power is not None:
            self.site_power.release(key)
        self._preemptible.pop(key, None)
        self._draining.pop(key, None)
        tenant, count = self._tenant_of.pop(key, ("", 0))
        if count:
            self._holdings_change()
            self.tenant_gpus[tenant] -= count
        held_down = self.held_down.since
        closing = set((ids // self.gpus_per_node).tolist()) & held_down.keys() if held_down else set()
        for node in closing:  # down nodes among those released: count up to now
            self.held_down.count_to(node, self.env.now)
        if self._holders_by_key.pop(key, None) is not None:
            nodes = np.unique(ids // self.gpus_per_node)
            mine = nodes[self._owner[nodes] == key]
            self._owner[mine] = -1
            for node in [n for n in nodes.tolist() if n in self._co_owners]:
                others = self._co_owners[node]
                others.discard(key)
                if self._owner[node] < 0 and others:
                    self._owner[node] = others.pop()
                if not others:
                    del self._co_owners[node]
        for node in closing:  # and no longer held by anyone: it stops counting
            if self._owner[node] < 0 and node not in self._co_owners:
                del held_down[node]
        self._grant()

    def _holders(self, node: int) -> list[Holder]:
        owner = int(self._owner[node])
        keys = ([owner] if owner >= 0 else []) + sorted(self._co_owners.get(node, ()))
        return [self._holders_by_key[key] for key in keys]

    def fail_node(self, node: int, repair_s: float, cause: str, paid: bool = True) -> None:
        """Node `node` goes down for `repair_s`; its holders (if any) are told; `paid`: whether its GPUs are still
        paid for meanwhile (not for spot capacity taken back)."""
        self.node_failures += 1
        if len(self.failure_log) < FAILURE_LOG_LIMIT:
            self.failure_log.append((self.env.now, node, repair_s, cause))
        if self.up[node]:
            self.up[node] = False
            self._down_since[node] = self.env.now
            if self._owner[node] >= 0 or node in self._co_owners:
                self.held_down.since[node] = self.env.now
            if not paid:
                self.held_down.unpaid.add(node)
            self.env.process(self._repair(node, repair_s))
        for holder in self._holders(node):
            holder.crash(node, cause)

    def slow_node(self, node: int, factor: float, detection_s: float, repair_s: float, cause: str) -> None:
        """Node `node` runs `factor` times slower for its holders until one detects and evicts it, `detection_s`
        later, for a repair of `repair_s` (idle nodes: no effect)."""
        straggler = Straggler(factor, detection_s, repair_s, cause)
        for holder in self._holders(node):
            straggle(self, holder, node, straggler)

    def notify(self, node: int, seconds: float) -> int:
        """Warn the holders of `node` that it will be taken in `seconds` (a spot reclaim); how many acted."""
        return sum(holder.notice(node, seconds) for holder in self._holders(node))

    def fail_storage(self, repair_s: float) -> None:
        """The shared checkpoint store is down for `repair_s`."""
        self.storage_failures += 1
        if self.storage_up:
            self.storage_up = False
            self.env.process(self._repair_storage(repair_s))

    def storage_repaired(self) -> simpy.Event:
        """An event that fires when the checkpoint store is up (at once if it is)."""
        if self.storage_up:
            event = self.env.event()
            event.succeed()
            return event
        if self._storage_back is None:
            self._storage_back = self.env.event()
        return self._storage_back

    def _repair_storage(self, repair_s: float) -> simpy.events.ProcessGenerator:
        yield self.env.timeout(repair_s)
        self.storage_up = True
        if self._storage_back is not None:
            self._storage_back.succeed()
            self._storage_back = None

    def repaired(self, node: int) -> simpy.Event:
        """An event that fires when `node` is healthy (at once if it is)."""
        if self.up[node]:
            event = self.env.event()
            event.succeed()
            return event
        return self._repaired.setdefault(node, self.env.event())

    def record_busy(self, gpus: int, seconds: float, power_w: float, shares: Shares | None = None) -> None:
        """`gpus` GPUs computed for `seconds` at `power_w` each (wall power, before PUE), spread over the pools by
        `shares` (None: the first pool)."""
        self.busy_gpu_s += gpus * seconds
        self.busy_energy_j += gpus * seconds * power_w
        self.by_pool.busy(gpus * seconds, gpus * seconds * power_w, shares)

    def record_productive(self, gpu_s: float, shares: Shares | None = None) -> None:
        """GPU-seconds of work that counts, spread over the pools by `shares` (None: the first pool)."""
        self.productive_gpu_s += gpu_s
        self.by_pool.productive(gpu_s, shares)

    def shares(self, ids: GpuIds) -> NDArray[np.float64]:
        """Fraction of `ids` in each pool."""
        return np.bincount(self.pool_of_gpu[ids], minlength=len(self.pool_nodes)) / max(1, ids.size)

    def down_gpu_seconds_by_pool(self) -> NDArray[np.float64]:
        """GPU-seconds on failed nodes so far in each pool, counting repairs still under way."""
        return self.by_pool.down_gpu_s(self._down_since, self.env.now)

    def down_gpu_seconds(self) -> float:
        """GPU-seconds on failed nodes so far, counting repairs still under way."""
        ongoing = sum(self.env.now - since for since in self._down_since.values())
        return (self._down_node_s + ongoing) * self.gpus_per_node

    def allocated_seconds(self) -> NDArray[np.float64]:
        """Allocated time per GPU so far, counting allocations still held."""
        held = np.where(np.isnan(self._allocated_at), 0.0, self.env.now - self._allocated_at)
        return self.allocated_s + held

    def down_held_seconds(self, ids: GpuIds, unpaid: bool = False) -> float:
        """GPU-seconds GPUs `ids` have spent on nodes down while held (any holder), counting downs still open
        (`unpaid`: only the outages not paid for)."""
        return self.held_down.seconds(np.bincount(ids // self.gpus_per_node, minlength=self.nodes), self.env.now,
                                      unpaid)

    def _repair(self, node: int, repair_s: float) -> simpy.events.ProcessGenerator:
        yield self.env.timeout(repair_s)
        self.up[node] = True
        self.held_down.close(node, self.env.now)
        self.held_down.unpaid.discard(node)
        down_s = self.env.now - self._down_since.pop(node)
        self._down_node_s += down_s
        self.by_pool.repaired(node, down_s)
        event = self._repaired.pop(node, None)
        if event is not None:
            event.succeed()
        self._grant()

    def _usable(self) -> GpuIds:
        return np.flatnonzero(self.free & np.repeat(self.up, self.gpus_per_node))

    def _start(self, request: Request, free_ids: GpuIds, need: Need = ()) -> GpuIds:
        """Give `request` its GPUs: placed among `free_ids`, or among each pool's free GPUs by `need`."""
        if need:
            pool_of = self.pool_of_gpu[free_ids]
            ids = np.sort(np.concatenate([self._place(free_ids[pool_of == pool], n) for pool, n in need]))
        else:
            ids = self._place(free_ids, request.count)
        self.free[ids] = False
        self._allocated_at[ids] = self.env.now
        self._ends[int(ids.min())] = (self.env.now + request.estimate_s, request.count)
        self._tenant_of[int(ids.min())] = (request.tenant, request.count)
        if self.site_power is not None:
            self.site_power.start(request.order, int(ids.min()), request.count, self._request_watts(request, need),
                                  self.env.now)
            self._watts.pop(request.order, None)
        self._holdings_change()
        self.tenant_gpus[request.tenant] = self.tenant_gpus.get(request.tenant, 0) + request.count
        request.event.succeed(ids)
        return ids

    @property
    def now(self) -> float:
        """The simulated time (what a scheduling policy plans from)."""
        return float(self.env.now)

    def draining_gpus(self) -> int:
        """GPUs of preempted allocations on their way back."""
        return sum(self._draining.values())

    def expected_releases(self) -> list[tuple[float, int]]:
        """(expected release time, no earlier than now; GPUs) of every allocation held and not draining, in
        that order."""
        now = self.env.now
        return sorted((max(end, now), count) for key, (end, count) in self._ends.items() if key not in self._draining)

    def within_quota(self, request: Request) -> bool:
        """Whether `request` would keep its tenant within its quota."""
        quota = self.quotas.get(request.tenant)
        return quota is None or self.tenant_gpus.get(request.tenant, 0) + request.count <= quota

    def _queue(self) -> list[Request]:
        """The waiting requests the policy considers now, in its order: those within their tenant's quota (the
        rest wait for their tenant to give GPUs back, and block nobody), by priority plus fair-share bonus."""
        queue = [r for r in self._waiting if self.within_quota(r)] if self.quotas else self._waiting
        if self.fair_share is not None and len(queue) > 1:
            self.fair_share.advance(self.env.now, self.tenant_gpus)
            bonus = {tenant: self.fair_share.bonus(tenant) for tenant in {r.tenant for r in queue}}
            queue = sorted(queue, key=lambda r: (-(r.priority + bonus[r.tenant]), r.order))
        return queue

    def _holdings_change(self) -> None:
        """Bring fair-share usage up to now before a tenant's GPU count changes."""
        if self.fair_share is not None:
            self.fair_share.advance(self.env.now, self.tenant_gpus)

    def _grant(self) -> None:
        free_ids = self._usable()
        if len(self.pool_nodes) > 1:
            self._grant_pooled(free_ids)
            return
        queue = self._queue()
        while queue and queue[0].count <= free_ids.size and self._powered(queue[0]):
            request = queue[0]
            self._waiting.remove(request)
            ids = self._start(request, free_ids)
            free_ids = np.setdiff1d(free_ids, ids, assume_unique=True)
            queue = self._queue()
        if queue:
            self._preempt_for(queue[0], free_ids.size)
        for request in self._policy.behind_head(queue, int(free_ids.size), self):
            if not self._powered(request):
                continue
            self._waiting.remove(request)
            ids = self._start(request, free_ids)
            free_ids = np.setdiff1d(free_ids, ids, assume_unique=True)

    def _grant_pooled(self, free_ids: GpuIds) -> None:
        """Requests bound to pools, in the policy's order: one that cannot start blocks those after it that want
        any of its pools (as a queue per pool; backfill behaves as priority here), and may preempt there."""
        blocked: set[int] = set()
        for request in self._queue():
            pools = request.pools or frozenset(range(len(self.pool_nodes)))
            if pools & blocked:
                blocked |= pools
                continue
            need = self._fitting(request, free_ids)
            if need is not None and not self._powered(request, need):
                need = None
            if need is None:
                if not blocked:
                    self._preempt_for(request, int(np.count_nonzero(np.isin(self.pool_of_gpu[free_ids],
                                                                           list(pools)))))
                blocked |= pools
                continue
            self._waiting.remove(request)
            ids = self._start(request, free_ids, need)
            free_ids = np.setdiff1d(free_ids, ids, assume_unique=True)

    def _fitting(self, request: Request, free_ids: GpuIds) -> Need | None:
        """The first way of splitting `request` over pools that the free GPUs hold (anywhere: the whole cluster as
        one need), or None."""
        per_pool = np.bincount(self.pool_of_gpu[free_ids], minlength=len(self.pool_nodes))
        if not request.options:
            return () if request.count <= free_ids.size else None
        return next((need for need in request.options if all(per_pool[p] >= n for p, n in need)), None)

    def pool_of(self, ids: GpuIds) -> int:
        """The pool of the first of `ids` (an allocation's home pool)."""
        return int(self.pool_of_gpu[int(ids.min())])

    def _powered(self, request: Request, need: Need = ()) -> bool:
        """Whether the site power budget (if any) lets `request` start now (taking its GPUs as `need` says: at
        those pools' full-load power, `pool_full_w`, unless it named its own)."""
        if self.site_power is None:
            return True
        return self.site_power.fits(request.order, request.count, self._request_watts(request, need), self.env.now)

    def _request_watts(self, request: Request, need: Need) -> float | None:
        """Full-load wall W per GPU of `request` taken as `need`: its own, else its pools' (None: the site's)."""
        watts = self._watts.get(request.order)
        if watts is None and need and self.pool_full_w:
            watts = sum(n * self.pool_full_w[pool] for pool, n in need) / request.count
        return watts

    def _place(self, free_ids: GpuIds, count: int) -> GpuIds:
        """`count` of the free GPUs, where the placement policy puts them (engine/placement.py)."""
        free = Free(free_ids, self.gpus_per_node, self.nodes, self.unit_nodes, self._rng)
        return np.asarray(self._placement(free, count), dtype=np.int64)
