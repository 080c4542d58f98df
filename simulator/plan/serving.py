"""An inference workload made concrete: one replica's configuration as the iteration model takes it, its
requests (drawn or replayed from a seed), and what a replica may hold (batch, tokens, KV blocks, prefixes)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simulator.models.topology.network import Network
from simulator.models.workload import arrivals as arr
from simulator.models.workload.serving_time import IterationModel, ReplicaIterations, ServingConfig
from simulator.plan.limits import ReplicaLimits
from simulator.plan.network import cluster_shape, network
from simulator.scenario.inference import (
    DiurnalArrivals,
    EmpiricalLength,
    FixedLength,
    GammaArrivals,
    InferenceWorkload,
    Length,
    LognormalLength,
    PoissonArrivals,
    TraceArrivals,
    UniformLength,
)
from simulator.scenario.policies import LoadMetricName, RouterName
from simulator.scenario.schema import ClusterSpec


@dataclass(frozen=True)
class DecodePool:
    """Prefill/decode disaggregation (Splitwise, DistServe): replicas that only decode, fed by the main
    pool, which then only prefills; each request's KV cache moves between them over the network."""

    model: IterationModel
    limits: ReplicaLimits
    replicas: int
    transfer_s_per_token: float  # KV bytes per token over the link between the pools
    kv_bytes_per_s: float = 0.0  # the requests' KV caches moved between the pools, averaged over their arrivals


@dataclass(frozen=True)
class Autoscaler:
    """Replicas of the main pool added or removed on load: every `interval_s`, the load of the replicas
    taking requests (by `metric`: outstanding requests per replica, or the fraction of the last interval
    they spent iterating) above `scale_up_at` starts one more (after `cold_start_s`, paid from the start);
    below `scale_down_at` an idle one is switched off."""

    min_replicas: int
    max_replicas: int
    interval_s: float
    scale_up_at: float
    scale_down_at: float
    cold_start_s: float
    metric: LoadMetricName = "outstanding"


def serving_config(w: InferenceWorkload, cluster: ClusterSpec, decode: bool = False) -> ServingConfig:
    """One replica of an inference workload (a decode-pool replica with `decode`) as the iteration model
    takes it."""
    d = w.disaggregation
    return ServingConfig(
        model=w.model, accelerator=cluster.accelerator, precision=w.precision,
        kv_bytes=w.kv_cache_precision.bytes, tp=w.decode_tp if decode else w.tp,
        kv_memory_fraction=w.kv_memory_fraction, workspace_bytes=w.workspace_bytes,
        max_batch=(d.decode_max_batch or w.max_batch) if decode and d else w.max_batch,
        max_num_tokens=w.max_num_tokens, overhead_s=w.iteration_overhead_s,
        stored_weight_bytes=w.weight_bits / 8 if w.weight_bits else None, pp=w.decode_pp if decode else w.pp,
        expert_parallel=w.expert_parallel,
    )


@dataclass(frozen=True)
class RequestLoad:
    """The requests of an inference workload: absolute arrival times (sorted) and token counts."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    prefix_group: np.ndarray | None  # per request, with prefix caching


@functools.lru_cache(maxsize=32)
def read_trace(spec: TraceArrivals) -> arr.Trace:
    """The trace a workload replays (read once per process; TraceError when it cannot be)."""
    return arr.load_trace(spec.path, time_column=spec.time_column, input_column=spec.input_column,
                          output_column=spec.output_column, time_scale=spec.time_scale, limit=spec.requests)


@functools.lru_cache(maxsize=32)
def read_column(spec: EmpiricalLength) -> np.ndarray:
    """Token counts of one column of a CSV file (TraceError when it cannot be read)."""
    return np.asarray(arr.load_column(spec.path, spec.column))


def request_load(w: InferenceWorkload, rng: np.random.Generator) -> RequestLoad:
    """Draw (or replay) the workload's requests: arrivals first, then input lengths, then output lengths,
    all from `rng`, so a seed fixes them."""
    spec = w.arrivals
    trace = read_trace(spec) if isinstance(spec, TraceArrivals) else None
    if trace is not None:
        arrival_s = trace.arrival_s
    elif isinstance(spec, PoissonArrivals):
        arrival_s = arr.poisson_arrivals_s(spec.rate_per_s, spec.requests, rng)
    elif isinstance(spec, GammaArrivals):
        arrival_s = arr.gamma_arrivals_s(spec.rate_per_s, spec.cv, spec.requests, rng)
    else:
        assert isinstance(spec, DiurnalArrivals)
        arrival_s = arr.diurnal_arrivals_s(spec.rates_per_s, spec.period_s, spec.requests, rng)
    count = len(arrival_s)

    def lengths(length: Length | None, from_trace: np.ndarray | None) -> np.ndarray:
        if isinstance(length, FixedLength):
            return arr.fixed_lengths(length.tokens, count)
        if isinstance(length, UniformLength):
            return arr.uniform_lengths(length.low, length.high, count, rng)
        if isinstance(length, LognormalLength):
            return arr.lognormal_lengths(length.median, length.sigma, count, rng, minimum=length.min,
                                         maximum=length.max)
        if isinstance(length, EmpiricalLength):
            return arr.empirical_lengths(read_column(length), count, rng)
        assert from_trace is not None  # the schema allows the trace's own lengths only with trace arrivals
        return np.asarray(np.maximum(from_trace, 1), dtype=np.int64)

    input_tokens = lengths(w.input_tokens, trace.input_tokens if trace else None)
    output_tokens = lengths(w.output_tokens, trace.output_tokens if trace else None)
    groups = None
    if w.prefix_caching is not None:
        p = w.prefix_caching
        weights = np.arange(1, p.groups + 1, dtype=np.float64) ** -p.zipf_exponent
        groups = rng.choice(p.groups, size=count, p=weights / weights.sum())
    return RequestLoad(w.start_at_s + arrival_s, input_tokens, output_tokens, groups)


def prefix_slots(w: InferenceWorkload, cfg: ServingConfig) -> tuple[int, int]:
    """(prefixes a replica caches, KV blocks left for requests) under the workload's prefix caching."""
    blocks = cfg.kv_capacity_tokens // w.kv_block_tokens
    p = w.prefix_caching
    if p is None:
        return 0, blocks
    per_prefix = -(-p.prefix_tokens // w.kv_block_tokens)
    slots = int(p.cache_fraction * blocks) // per_prefix
    return slots, blocks - slots * per_prefix


@dataclass(frozen=True)
class ServicePlan:
    """An inference workload ready for the engine: its requests, one replica's iteration model and limits, the
    decode pool and autoscaler if any, and the GPUs of each replica (main pool first, then the decode pool)."""

    name: str
    tenant: str
    priority: int
    start_at_s: float
    replicas: int  # main-pool replicas at the start
    iterations: ReplicaIterations
    limits: ReplicaLimits
    load: RequestLoad
    router: RouterName
    on_failure: str
    decode: DecodePool | None
    autoscaler: Autoscaler | None
    prefix_tokens: int
    replica_gpus: np.ndarray  # GPUs of each replica, by replica number
    pool: int = -1  # the cluster pool of its main replicas (-1: anywhere, a cluster without pools)
    decode_pool: int = -1  # and of its decode replicas

    def options(self, gpus: int, decode: bool = False) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Where an allocation of `gpus` for its main (or decode) replicas may come from (none: anywhere)."""
        pool = self.decode_pool if decode else self.pool
        return (((pool, gpus),),) if pool >= 0 else ()

    @property
    def pool_replicas(self) -> int:
        """Replicas the main pool can reach (the autoscaler's maximum, or `replicas`)."""
        return self.autoscaler.max_replicas if self.autoscaler else self.replicas


@functools.lru_cache(maxsize=256)
def _iterations(cfg: ServingConfig, net: Network, gpus: tuple[int, ...] | None = None) -> ReplicaIterations:
    """Shared by replicas and replicates: its caches of decode lines fill once."""
    return ReplicaIterations(cfg, net, gpus)


def placed_replica(model: IterationModel, gpus: np.ndarray) -> IterationModel:
    """A replica's iterations with its ranks on `gpus` (stage-major): re-priced where they or the GPUs it was
    priced on span scale-up domains (collectives and stage sends then cross the network); as priced where both
    sit inside one domain."""
    if not isinstance(model, ReplicaIterations):
        return model
    priced_on = np.arange(gpus.size) if model.gpus is None else np.array(model.gpus, dtype=np.int64)
    if gpus.size < 2 or (_one_domain(model.network, gpus) and _one_domain(model.network, priced_on)):
        return model
    return _iterations(model.cfg, model.network, tuple(int(g) for g in gpus))


def _one_domain(net: Network, gpus: np.ndarray) -> bool:
    domains = net.domain_of[gpus]
    return bool(np.all(domains == domains[0]))


def _pool_iterations(cfg: ServingConfig, whole: ClusterSpec, pool: str) -> ReplicaIterations:
    """A replica of `cfg` priced on the first GPUs of `pool` (with its chip; the old form: GPUs 0..n-1)."""
    first, count = whole.first_gpu(pool), cfg.tp * cfg.pp
    return _iterations(cfg, network(whole.view(pool)), tuple(range(first, first + count)) if first else None)


def replica_limits(w: InferenceWorkload, cfg: ServingConfig, cache_prefixes: bool = True) -> ReplicaLimits:
    """What one replica of `cfg` may hold at once (prefix caching only in the pool that prefills)."""
    swap = cfg.kv_bytes_per_token / w.swap_bandwidth_bytes_per_s if w.preemption == "swap" else 0.0
    slots, blocks = prefix_slots(w, cfg) if cache_prefixes else (0, cfg.kv_capacity_tokens // w.kv_block_tokens)
    return ReplicaLimits(cfg.max_batch, cfg.max_num_tokens, blocks, w.kv_block_tokens, w.reserve_output, swap, slots)


def kv_transfer_s_per_token(w: InferenceWorkload, prefill_pool: ClusterSpec, decode_pool: ClusterSpec,
                            prefill: ServingConfig) -> float:
    """Seconds to move one token's KV cache from a prefill to a decode replica (each side's pool seen through its
    view): every prefill rank's shard goes out over its own link and comes in over the decode ranks' links, the
    slower side setting the pace."""
    d = w.disaggregation
    assert d is not None

    def per_gpu(view: ClusterSpec) -> float:
        shape = cluster_shape(view)
        return d.kv_transfer_bandwidth_bytes_per_s or (
            shape.nic_bandwidth_bytes_per_s if math.isfinite(shape.nic_bandwidth_bytes_per_s)
            else shape.scale_up_bandwidth_bytes_per_s)

    out_s = 1.0 / (prefill.tp * prefill.pp * per_gpu(prefill_pool))
    in_s = 1.0 / (w.decode_tp * w.decode_pp * per_gpu(decode_pool))
    return prefill.kv_bytes_per_token * prefill.tp * prefill.pp * max(out_s, in_s)


def kv_rate_bytes_per_s(load: RequestLoad, prefill: ServingConfig) -> float:
    """Mean rate of KV-cache bytes from the prefill to the decode pool: every prompt's cache (and its first token's)
    over the span of the arrivals (at least a second)."""
    if not load.arrival_s.size:
        return 0.0
    span_s = max(1.0, float(load.arrival_s[-1] - load.arrival_s[0]))
    tokens = float(np.sum(load.input_tokens + 1))
    return tokens * prefill.kv_bytes_per_token * prefill.tp * prefill.pp / span_s


def service_plan(w: InferenceWorkload, whole: ClusterSpec, rng: np.random.Generator) -> ServicePlan:
    """The workload's replicas, pools and scaling on `whole` (the main replicas on its pool, the decode replicas
    on theirs: each priced with its pool's accelerator), and its requests drawn from `rng`."""
    main, decoding = serving_pools(w, whole)
    cluster = whole.view(main)
    cfg = serving_config(w, cluster)
    load = request_load(w, rng)
    decode = None
    if w.disaggregation is not None:
        decoder = serving_config(w, whole.view(decoding), decode=True)
        decode = DecodePool(_pool_iterations(decoder, whole, decoding), replica_limits(w, decoder, False),
                            w.disaggregation.decode_replicas,
                            kv_transfer_s_per_token(w, cluster, whole.view(decoding), cfg),
                            kv_rate_bytes_per_s(load, cfg))
    scaler = w.autoscaling
    autoscaler = Autoscaler(scaler.min_replicas, scaler.max_replicas, scaler.interval_s, scaler.scale_up_at,
                            scaler.scale_down_at, scaler.cold_start_s, scaler.metric) if scaler else None
    replica_gpus = np.array([w.tp * w.pp] * w.pool_replicas
                            + [w.decode_tp * w.decode_pp] * (decode.replicas if decode else 0))
    indices = (-1, -1) if whole.pools is None else (whole.pool_index(main), whole.pool_index(decoding))
    return ServicePlan(w.name, w.tenant, w.priority, w.start_at_s, w.replicas, _pool_iterations(cfg, whole, main),
                       replica_limits(w, cfg), load, w.router, w.on_failure, decode, autoscaler,
                       w.prefix_caching.prefix_tokens if w.prefix_caching else 0, replica_gpus, *indices)


def serving_pools(w: InferenceWorkload, cluster: ClusterSpec) -> tuple[str, str]:
    """(pool of its main replicas, pool of its decode replicas): its own, else the first; the decode pool's, else
    the main one."""
    main = w.pool or cluster.pool_specs[0].name
    return main, (w.disaggregation.decode_pool if w.disaggregation else None) or main
