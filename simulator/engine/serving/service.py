"""An inference service inside a run: it asks the cluster for its GPUs (after work submitted before it, in
order), places its replicas on them, serves its requests as SimPy processes in the run's environment, loses
replicas to the failures and stragglers of their nodes, and gives the GPUs back when every request is done. With
a decode pool, its KV transfers are a workload on the shared fabric (it is told when its placement changes)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import simpy

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.effects import Unwarned
from simulator.engine.fabric import Contention
from simulator.engine.serving.deployment import Deployment, FailurePolicy, deploy_serving
from simulator.engine.serving.requests import ServingOutcome
from simulator.plan.pools import Shares
from simulator.plan.serving import ServicePlan, placed_replica


@dataclass
class Service:
    """One inference workload in a run: its plan, its deployment, and when it held GPUs."""

    plan: ServicePlan
    deployment: Deployment
    started_s: float | None = None
    finished_s: float | None = None
    process: simpy.Process | None = None
    allocations: dict[int, GpuIds] = field(default_factory=dict)  # GPUs held: main-pool replica (-1: decode pool)
    on_placement: Callable[[], None] | None = None  # the shared fabric's hook
    contention: Contention | None = None  # what its KV transfers met there (None: not on the fabric)

    @property
    def holds_gpus(self) -> bool:
        """Whether it holds GPUs now (for the shared fabric)."""
        return bool(self.allocations)

    def set_contention(self, factor: float) -> None:
        """Other workloads on the links between its pools make its KV transfers `factor` times slower."""
        self.deployment.transfer_factor = factor

    def pools(self) -> tuple[list[GpuIds], list[GpuIds]]:
        """The GPUs of each main-pool replica held now, and of each decode replica."""
        main = [ids for r, ids in sorted(self.allocations.items()) if r >= 0]
        decoding = self.allocations.get(-1)
        if decoding is None:
            return main, []
        edges = np.cumsum(self.replica_gpus[self.plan.pool_replicas:])[:-1]
        return main, list(np.split(decoding, edges))

    def _placed(self) -> None:
        if self.on_placement is not None:
            self.on_placement()

    @property
    def replica_gpus(self) -> np.ndarray:
        """GPUs of each replica, by replica number."""
        return self.plan.replica_gpus

    def gpu_seconds(self, per_replica_s: np.ndarray) -> float:
        """Seconds per replica (busy, active, lost) weighted by each replica's GPUs."""
        return float(np.sum(per_replica_s * self.replica_gpus))


def deploy(env: simpy.Environment, cluster: Cluster, plan: ServicePlan, rng: np.random.Generator) -> Service:
    """Build the service's processes; it takes its GPUs from `cluster` at its start time and frees them when
    every request is completed or failed (`rng` drives its router)."""
    load = plan.load
    deployment = deploy_serving(env, plan.iterations, plan.limits, plan.replicas, load.arrival_s, load.input_tokens,
                                load.output_tokens, plan.router, rng, plan.decode,
                                FailurePolicy(plan.on_failure), plan.autoscaler, load.prefix_group,
                                plan.prefix_tokens)
    service = Service(plan, deployment)
    service.process = env.process(_serve(env, cluster, service))
    return service


def _hold(cluster: Cluster, service: Service, ids: GpuIds, replicas: list[int]) -> None:
    """Place `replicas` on `ids` in order and take each down when one of its nodes fails."""
    gpus, deployment, plan = service.replica_gpus, service.deployment, service.plan
    edges = np.concatenate(([0], np.cumsum(gpus[replicas])))
    on_node: dict[int, list[int]] = {}
    for at, replica in enumerate(replicas):
        base = plan.iterations if replica < plan.pool_replicas or plan.decode is None else plan.decode.model
        deployment.place(replica, placed_replica(base, ids[edges[at]:edges[at + 1]]))
        for node in np.unique(ids[edges[at]:edges[at + 1]] // cluster.gpus_per_node).tolist():
            on_node.setdefault(node, []).append(replica)

    class Replicas(Unwarned):
        """The replicas as holders of their nodes (simulator/engine/effects.py): a node's failure takes down every
        replica on it, a straggler slows them until it is detected and evicted."""

        def crash(self, node: int, cause: str) -> None:
            for replica in on_node.get(node, []):
                deployment.crash(replica, cluster.repaired(node))

        def slow(self, node: int, factor: float) -> None:
            for replica in on_node.get(node, []):
                deployment.slow(replica, factor)

        def is_slowed(self, node: int) -> bool:
            return any(deployment.is_slowed(r) for r in on_node.get(node, []))

    cluster.hold(ids, Replicas())


def _serve(env: simpy.Environment, cluster: Cluster, service: Service) -> Generator[simpy.Event, object, None]:
    """Take GPUs for the first replicas and the decode pool, serve, and free them when every request is done;
    replicas the autoscaler starts ask the cluster for their GPUs then (at the service's priority, so with
    preemption they may stop preemptible work) and give them back when switched off."""
    plan, deployment = service.plan, service.deployment
    yield env.timeout(plan.start_at_s)  # even at 0: workloads submitted at one time ask for GPUs in scenario order
    # one allocation per main-pool replica (the autoscaler may give any back), one for the decode pool
    decoders = list(range(plan.pool_replicas, len(service.replica_gpus)))
    asks = {r: _ask(cluster, plan, int(service.replica_gpus[r])) for r in range(plan.replicas)}
    if decoders:
        asks[-1] = _ask(cluster, plan, int(service.replica_gpus[decoders].sum()), decode=True)
    yield env.all_of(list(asks.values()))
    extra = service.allocations
    extra |= {r: cast(GpuIds, event.value) for r, event in asks.items()}
    for r, granted in extra.items():
        _hold(cluster, service, granted, decoders if r < 0 else [r])
    service._placed()
    pending: dict[int, simpy.Event] = {}

    def grab(replica: int) -> Generator[simpy.Event, object, None]:
        pending[replica] = _ask(cluster, plan, int(service.replica_gpus[replica]))
        granted: GpuIds = (yield pending[replica])  # type: ignore[assignment]
        del pending[replica]
        if service.finished_s is not None:
            return  # the service ended as they came: _serve has released them
        _hold(cluster, service, granted, [replica])
        extra[replica] = granted
        service._placed()

    def give_back(replica: int) -> None:
        if replica in extra:
            cluster.release(extra.pop(replica))
            service._placed()

    if plan.autoscaler is not None:
        deployment.acquire = lambda replica: env.process(grab(replica))
        deployment.give_back = give_back
    service.started_s = env.now
    deployment.bring_up()
    assert deployment.done is not None
    yield deployment.done
    service.finished_s = env.now
    deployment.retire()
    for event in pending.values():  # replicas still waiting for GPUs: withdraw, or free what just came
        if not cluster.cancel(event):
            cluster.release(cast(GpuIds, event.value))
    for granted in extra.values():
        cluster.release(granted)
    extra.clear()  # nothing left to give back
    service._placed()


def _ask(cluster: Cluster, plan: ServicePlan, gpus: int, decode: bool = False) -> simpy.Event:
    """Ask for `gpus` for main (or decode) replicas, on their pool, at the service's priority."""
    return cluster.request(gpus, plan.priority, tenant=plan.tenant, options=plan.options(gpus, decode))


def settle(service: Service, cluster: Cluster, busy_w: float, decode_busy_w: float | None = None) -> ServingOutcome:
    """Close the service's accounts at the end of the run and credit its work to the cluster, each replica's in its
    pool at its pool's power (`decode_busy_w`: the decode replicas', where their pool differs); the iterations
    whose work replica failures threw away are busy but not productive."""
    outcome = service.deployment.close()
    plan = service.plan
    decode_w = busy_w if decode_busy_w is None else decode_busy_w
    apart = plan.decode_pool != plan.pool or decode_w != busy_w
    every = np.ones(len(service.replica_gpus), dtype=bool)
    decoding = np.arange(len(service.replica_gpus)) >= plan.pool_replicas
    parts = ((~decoding, plan.pool, busy_w), (decoding, plan.decode_pool, decode_w)) if apart else (
        (every, plan.pool, busy_w),)
    for part, pool, watts in parts:
        shares = Shares.one(pool, len(cluster.pool_nodes)) if pool >= 0 else None
        busy_gpu_s = service.gpu_seconds(np.where(part, outcome.busy_s, 0.0))
        cluster.record_busy(1, busy_gpu_s, watts, shares)
        cluster.record_productive(busy_gpu_s - service.gpu_seconds(np.where(part, outcome.lost_s, 0.0)), shares)
    return outcome
