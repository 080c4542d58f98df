"""Turn validated scenario sections into the pure objects the models and the engine take (SI dataclasses)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simulator.models.cost import PowerModel, Prices, network_power_w, owned_gpu_hour_usd
from simulator.models.hardware import Accelerator, Precision, PriceKind
from simulator.models.topology.build import build_network
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import OcsTorusTopology, TorusTopology
from simulator.models.workload import arrivals as arr
from simulator.models.workload.serving_time import ServingConfig
from simulator.models.workload.training_job import TrainingStep
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
from simulator.scenario.schema import ClusterSpec, PricingSpec, TrainingWorkload


class MissingFigure(ValueError):
    """A figure the simulation needs that neither the catalog nor the scenario gives."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _bandwidth(given: float | None, default: float | None, needed: bool, key: str, what: str, acc: str) -> float:
    """A link bandwidth from the topology, else the accelerator; infinite where no such link is used."""
    value = given or default
    if value is not None:
        return value
    if needed:
        raise MissingFigure(
            ("cluster", "topology", key), f"{acc} has no {what} in the catalog; give one per GPU here"
        )
    return math.inf


def cluster_shape(cluster: ClusterSpec) -> ClusterShape:
    """Counts and per-GPU bandwidths of a cluster, defaulted from the accelerator."""
    acc, topo = cluster.accelerator, cluster.topology
    torus = isinstance(topo, TorusTopology | OcsTorusTopology)
    link_given = isinstance(topo, TorusTopology | OcsTorusTopology) and topo.link_bandwidth_bytes_per_s is not None
    scale_up = _bandwidth(
        topo.scale_up_bandwidth_bytes_per_s, acc.scale_up_bandwidth_bytes_per_s,
        (cluster.gpus_per_node > 1 or torus) and not link_given,
        "scale_up_bandwidth", "scale-up bandwidth (e.g. 400 GB/s)", acc.name,
    )
    nic = _bandwidth(
        topo.nic_bandwidth_bytes_per_s, acc.nic_bandwidth_bytes_per_s, cluster.nodes > 1 and not torus,
        "nic_bandwidth", "NIC bandwidth (e.g. 400 Gbps)", acc.name,
    )
    return ClusterShape(cluster.nodes, cluster.gpus_per_node, scale_up, nic, acc.in_switch_reduction)


def network(cluster: ClusterSpec) -> Network:
    """The cluster's network, built from its topology; MissingFigure or TopologyError when it cannot be."""
    return build_network(cluster.topology, cluster_shape(cluster))


@functools.lru_cache(maxsize=16)
def cached_network(cluster: ClusterSpec) -> Network:
    """`network(cluster)`, built once per cluster spec: replicates, sweeps and job pricing share it (callers
    must not change it)."""
    return network(cluster)


@dataclass(frozen=True)
class TrainingPlan:
    """A training workload made concrete: the step it repeats and how many steps cover its tokens."""

    step: TrainingStep
    steps: int
    notes: tuple[str, ...]  # adjustments the user should know about (batch rounding)


def training_plan(workload: TrainingWorkload, cluster: ClusterSpec) -> TrainingPlan:
    """Batch arithmetic: whole micro-batches per DP replica, and enough steps to reach `tokens`."""
    lay = workload.parallelism
    per_microbatch_round = lay.dp * lay.micro_batch_size
    if workload.global_batch_size is not None:
        sequences = float(workload.global_batch_size)
        asked = f"global_batch_size {workload.global_batch_size}"
    else:
        tokens = workload.global_batch_tokens or workload.seq_len * per_microbatch_round
        sequences = tokens / workload.seq_len
        asked = f"global_batch_tokens {tokens:,.0f}"
    micro_batches = max(1, round(sequences / per_microbatch_round))
    step = TrainingStep(
        model=workload.model,
        accelerator=cluster.accelerator,
        precision=workload.precision,
        layout=lay,
        seq_len=workload.seq_len,
        micro_batches=micro_batches,
        flash_attention=workload.flash_attention,
        structured_sparsity=workload.structured_sparsity,
        pruned_fraction=workload.pruned_fraction,
        capacity_factor=workload.moe_capacity_factor,
    )
    notes: tuple[str, ...] = ()
    if step.sequences_per_step != sequences:
        notes = (
            f"{workload.name}: {asked} rounded to {step.tokens_per_step:,} tokens "
            f"({step.sequences_per_step} sequences of {workload.seq_len} = {micro_batches} micro-batches of "
            f"{lay.micro_batch_size} on each of {lay.dp} data-parallel replicas)",
        )
    steps = math.ceil(workload.tokens / step.tokens_per_step)
    return TrainingPlan(step=step, steps=steps, notes=notes)


KV_BYTES = {Precision.BF16: 2.0, Precision.FP16: 2.0, Precision.FP8: 1.0}


def serving_config(w: InferenceWorkload, cluster: ClusterSpec, decode: bool = False) -> ServingConfig:
    """One replica of an inference workload (a decode-pool replica with `decode`) as the iteration model
    takes it."""
    d = w.disaggregation
    return ServingConfig(
        model=w.model, accelerator=cluster.accelerator, precision=w.precision,
        kv_bytes=KV_BYTES[w.kv_cache_precision], tp=w.decode_tp if decode else w.tp,
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


def gpu_hour_rate(pricing: PricingSpec, acc: Accelerator) -> tuple[float, str]:
    """(USD per GPU-hour, where it comes from): as given, the catalog's latest rental price of a kind, or the
    amortized ownership cost; MissingFigure when the catalog has no such price."""
    if pricing.gpu_hour_usd is not None:
        return pricing.gpu_hour_usd, "pricing.gpu_hour_usd"
    if pricing.rental is not None:
        price = acc.latest_price(PriceKind(pricing.rental))
        if price is None:
            kinds = sorted({p.kind.value for p in acc.prices if p.kind is not PriceKind.PURCHASE})
            raise MissingFigure(("pricing", "rental"), (
                f"the catalog has no {pricing.rental} price for {acc.name} (it has: {', '.join(kinds) or 'none'}); "
                f"give gpu_hour_usd"
            ))
        return price.usd, f"{price.offer}, {price.kind.value}, {price.date} ({price.source})"
    own = pricing.ownership
    assert own is not None  # the schema requires one of the three
    purchase = own.purchase_usd
    source = "pricing.ownership.purchase_usd"
    if purchase is None:
        price = acc.latest_price(PriceKind.PURCHASE)
        if price is None:
            raise MissingFigure(("pricing", "ownership"), (
                f"the catalog has no purchase price for {acc.name}; give ownership.purchase_usd"
            ))
        purchase, source = price.usd, f"{price.offer}, {price.date} ({price.source})"
    rate = owned_gpu_hour_usd(purchase, own.server_overhead, own.network_fraction, own.amortization, own.years)
    life = "32.2 %/yr" if own.amortization.value == "epoch" else f"{own.years:g} years"
    return rate, (f"owned: ${purchase:,.0f} per GPU ({source}) x {own.server_overhead:g} server / "
                  f"(1 - {own.network_fraction:g} network), written off at {life}")


def prices(pricing: PricingSpec, acc: Accelerator) -> Prices:
    """The price of a GPU-hour and of energy, and the grid's carbon intensity."""
    return Prices(gpu_hour_rate(pricing, acc)[0], pricing.electricity_usd_per_kwh, pricing.pue,
                  pricing.carbon_kg_per_kwh)


def power_model(pricing: PricingSpec, acc: Accelerator) -> PowerModel:
    """Wall power per GPU in each state."""
    p = pricing.power
    return PowerModel.of(acc, p.communicating_load, p.down_w_per_gpu, p.average_w_per_gpu)


SWITCH_ROLES = frozenset({"leaf", "spine", "core", "router", "ocs"})
OPTICAL_LINKS = frozenset({"nic", "leaf_spine", "spine_core", "global", "ocs"})


def network_power(cluster: ClusterSpec, pricing: PricingSpec) -> float:
    """Watts of the scale-out network: every switch (scale-up switches are in the server overhead) and two
    transceivers per 400 Gb/s of every NIC, switch-to-switch and optically switched link."""
    net = network(cluster)
    switches = sum(1 for _, data in net.graph.nodes(data=True) if data.get("role") in SWITCH_ROLES)
    links: list[float] = []
    for _, _, data in net.graph.edges(data=True):
        if data["kind"] in OPTICAL_LINKS:
            count = int(data.get("count", 1))
            links += [data["bandwidth"] * 8 / 1e9 / count] * count
    return network_power_w(switches, links, pricing.power.switch_w, pricing.power.transceiver_w)
