"""The scenario schema: the one definition of what a scenario file may say.

Every model forbids unknown keys. Quantities take SI numbers or strings with units (simulator/units.py).
`accelerator:` and `model:` take a catalog name, an inline mapping of the catalog's fields, or a mapping with
`base: <catalog name>` plus the fields to change. Workloads are a list discriminated by `kind` (training,
inference); job streams, failures, the scheduler and pricing are sections of their own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from simulator.base import Strict
from simulator.models.cost import Amortization
from simulator.models.hardware import AttentionKernel, Precision
from simulator.models.reliability import Checkpoint, CheckpointPolicy, FailureModel, Recovery
from simulator.models.topology.specs import FatTreeTopology, Topology
from simulator.models.workload.parallelism import Parallelism
from simulator.scenario.inference import InferenceWorkload
from simulator.scenario.jobs import JobSource, SchedulerSpec
from simulator.scenario.pools import POOL_FIELDS, PoolSpec, RentalKind, carry_cap, pooled_cluster, settable_cap
from simulator.scenario.power import SitePowerSpec
from simulator.scenario.refs import NAME_PATTERN, AcceleratorRef, ModelRef
from simulator.units import Duration, NonNegativeDuration, PositiveBytes, PositiveCount, Power

# The network graph costs about 2.7 KB per GPU (README, "Limits"): validating a scenario at this many GPUs took
# 3.7 s and 450 MB on the 2-core build machine. About the largest single-site clusters announced in 2024 (~100k
# GPUs); model a larger one as a slice of it.
MAX_GPUS = 131_072
DEFAULT_POOL = "default"  # the one pool of a cluster written without pools:


class ClusterSpec(Strict):
    """GPU nodes and the network between them: one accelerator (the old form), or `pools:` of several, whose
    nodes follow one another on the one network."""

    pools: tuple[PoolSpec, ...] | None = Field(
        None, max_length=64, description="groups of nodes, each with its own accelerator, power cap "
        "and price, in node order on the cluster's network (docs/fleets.md); instead of accelerator, nodes, "
        "gpus_per_node and power_cap",
    )
    accelerator: AcceleratorRef = Field(description="catalog name, inline mapping, or {base: name, ...}")
    nodes: int = Field(gt=0, le=MAX_GPUS, description="number of nodes (servers)")
    gpus_per_node: int = Field(gt=0, le=1024, description="accelerators per node (one scale-up domain)")

    @field_validator("gpus_per_node")
    @classmethod
    def _within_budget(cls, gpus_per_node: int, info: ValidationInfo) -> int:
        nodes = info.data.get("nodes")
        if isinstance(nodes, int) and nodes * gpus_per_node > MAX_GPUS:
            raise ValueError(f"{nodes:,} nodes x {gpus_per_node} GPUs = {nodes * gpus_per_node:,} GPUs; at most "
                             f"{MAX_GPUS:,} (the network model costs about 2.7 KB per GPU; simulate a slice of a "
                             "larger cluster)")
        return gpus_per_node
    topology: Topology = Field(
        default_factory=lambda: FatTreeTopology(kind="fat_tree"),
        description="network between GPUs: single_switch, fat_tree, torus, ocs_torus or dragonfly",
    )
    shared_links: bool = Field(
        True, description="workloads running at once (training jobs, batch jobs with traffic, services' KV "
        "transfers) share the links their traffic crosses: each is re-priced on what the others leave it whenever "
        "one is placed or releases GPUs (false: each alone)",
    )

    power_cap_w: Power | None = Field(
        None, alias="power_cap", gt=0,
        description="operating power cap of every GPU (nvidia-smi -pl), W: at most the accelerator's tdp and at "
        "least its lowest settable limit; compute runs at the clock the cap leaves (docs/fleets.md, 'Power caps'); "
        "null: none",
    )

    site_power: SitePowerSpec | None = Field(
        None, description="the site's facility power budget and policy (cap or queue), and power over time in the "
        "report (docs/fleets.md); null: none",
    )

    _settable_cap = field_validator("power_cap_w")(settable_cap)

    @model_validator(mode="before")
    @classmethod
    def _from_pools(cls, data: Any) -> Any:
        return pooled_cluster(data)

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """With pools, the fields filled from them are left out, so that a dump loads again as it was written."""
        data: dict[str, Any] = handler(self)
        if self.pools is not None:
            for name in POOL_FIELDS:
                data.pop(name, None)
        return data

    @model_validator(mode="after")
    def _capped_accelerator(self) -> ClusterSpec:
        """Every model reads the cap from the accelerator: hand it a copy that carries it."""
        carry_cap(self)
        return self

    @model_validator(mode="after")
    def _named_pools(self) -> ClusterSpec:
        if self.pools == ():
            raise ValueError("pools: give at least one pool (or write the cluster without pools:)")
        names = [p.name for p in self.pools or ()]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"pool names must be unique (repeated: {', '.join(twice)})")
        return self

    @property
    def gpus(self) -> int:
        """Accelerators in the cluster."""
        return self.nodes * self.gpus_per_node

    @property
    def pool_specs(self) -> tuple[PoolSpec, ...]:
        """The pools, in node order; the old form is one pool named `default`."""
        if self.pools is not None:
            return self.pools
        return (PoolSpec(name=DEFAULT_POOL, accelerator=self.accelerator, nodes=self.nodes,
                         gpus_per_node=self.gpus_per_node),)

    def pool_index(self, name: str) -> int:
        """Position of the pool called `name` (KeyError if there is none)."""
        for index, pool in enumerate(self.pool_specs):
            if pool.name == name:
                return index
        raise KeyError(name)

    def first_node(self, index: int) -> int:
        """The first node of pool `index`."""
        return sum(p.nodes for p in self.pool_specs[:index])

    def first_gpu(self, pool: str | None) -> int:
        """The first GPU of pool `pool` (0 for None or the old form): where its work is planned (the network's
        domains and NICs differ between pools)."""
        if pool is None or self.pools is None:
            return 0
        return self.first_node(self.pool_index(pool)) * self.gpus_per_node

    def view(self, pool: str | None) -> ClusterSpec:
        """The cluster as a workload on pool `pool` sees it: that pool's accelerator on the whole network (the
        cluster itself for None or the old form)."""
        if pool is None or self.pools is None:
            return self
        accelerator = self.pool_specs[self.pool_index(pool)].accelerator
        if accelerator == self.accelerator:
            return self
        return self.model_copy(update={"accelerator": accelerator})


class OwnershipSpec(Strict):
    """GPUs bought and written off: the hourly capital cost of a GPU, its server share and the network."""

    purchase_usd: float | None = Field(
        None, gt=0, le=1e7, description="price of one GPU (default: the catalog's latest purchase price)"
    )
    amortization: Amortization = Field(
        Amortization.STRAIGHT_LINE, description="straight_line over `years`, or epoch: 32.2 % of the price per "
        "year (Cottier et al. 2024)",
    )
    years: float = Field(4.0, gt=0, le=20, description="service life for straight-line amortization")
    server_overhead: float = Field(
        1.64, ge=1, le=5, description="cost of the server per GPU (CPUs, memory, chassis, NICs) as a multiple of "
        "the GPU price, the GPU included (Epoch AI: 1.64; 1.66 for A100)",
    )
    network_fraction: float = Field(
        0.19, ge=0, lt=1, description="the interconnect's share of the cluster's capital cost (Epoch AI: 19 %)"
    )


class PowerSpec(Strict):
    """What each GPU and the network draw. Chip power runs from idle to TDP by what the GPU is doing, times the
    accelerator's server overhead (DGX H100: 1.82); PUE applies on top."""

    average_w_per_gpu: Power | None = Field(
        None, alias="average_w", gt=0, le=1e5,
        description="a measured average wall power per GPU (server share included) for every state but down; "
        "replaces the state model",
    )
    communicating_load: float = Field(
        0.3, ge=0, le=1, description="chip load while a step's exposed communication runs, between idle (0) and "
        "TDP (1); 0.3 is an assumption (communication kernels keep part of the chip busy)",
    )
    down_w_per_gpu: Power = Field(
        0.0, alias="down_w", ge=0, le=1e5, description="power per GPU of a failed node under repair (assumed off)"
    )
    switch_w: Power = Field(
        750.0, ge=0, le=1e5, description="one network switch without its optics (assumed: a 64-port 400G switch "
        "such as a Quantum-2 QM9700 with passive cables draws several hundred watts)",
    )
    transceiver_w: Power = Field(
        9.0, ge=0, le=1e3, description="one 400 Gb/s optical transceiver (NVIDIA: 9 W for a 400G OSFP/QSFP112 "
        "module, docs.nvidia.com/networking 800gmms4x00nst), two per 400 Gb/s of every switch link",
    )


class PricingSpec(Strict):
    """What GPU time and energy cost. Give one of gpu_hour_usd, rental or ownership. Rental rates usually
    include power: then leave electricity at 0."""

    gpu_hour_usd: float | None = Field(None, ge=0, le=1e4, description="price of one GPU for one hour, USD")
    rental: RentalKind | None = Field(
        None, description="the catalog's latest dated rental price of this kind for the accelerator: on_demand, "
        "one_year, three_year, spot or contract",
    )
    ownership: OwnershipSpec | None = Field(None, description="bought GPUs, amortized (then pay electricity too)")
    electricity_usd_per_kwh: float | None = Field(
        None, ge=0, le=100, description="energy price, USD per kWh (null: not set; energy then adds nothing to "
        "the cost, and reports say so)",
    )
    pue: float = Field(1.0, ge=1, le=5, description="power usage effectiveness of the data centre")
    carbon_kg_per_kwh: float | None = Field(
        None, ge=0, le=2, description="grid carbon intensity, kg CO2e per kWh (e.g. 0.429 for Patterson et al.'s "
        "GPT-3 estimate; null: not set, and reports show no carbon figure)",
    )
    power: PowerSpec = Field(default_factory=PowerSpec, description="power of GPUs by state and of the network")

    @model_validator(mode="after")
    def _one_price(self) -> PricingSpec:
        given = [k for k in ("gpu_hour_usd", "rental", "ownership") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of gpu_hour_usd, rental or ownership "
                             f"(got {', '.join(given) or 'none'})")
        return self


class PublishedFigure(Strict):
    """A figure a public run reported for this workload's setup; `clustersim reproduce training` predicts it
    from the scenario (failure-free, the cluster's own network) and prints both."""

    metric: Literal["model_tflops_per_gpu", "hardware_tflops_per_gpu", "days", "gpu_hours"] = Field(
        description="model_tflops_per_gpu (MFU convention), hardware_tflops_per_gpu (counting recomputation), "
        "days or gpu_hours to train the workload's tokens"
    )
    value: float = Field(gt=0, le=1e12, description="the published value, in the metric's unit")
    source: str = Field(min_length=1, max_length=500, description="where it was published")


class TrainingWorkload(Strict):
    """A pre-training (or fine-tuning) run: a model trained on a number of tokens with a parallel layout."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="unique name within the scenario")
    kind: Literal["training"]
    model: ModelRef = Field(description="catalog name, inline mapping, or {base: name, ...}")
    tokens: PositiveCount = Field(le=1e17, description="tokens to train on, e.g. 26B or 15.6T")
    seq_len: int = Field(gt=0, le=1 << 24, description="tokens per training sequence")
    global_batch_tokens: PositiveCount | None = Field(
        None, le=1e10, description="tokens per optimizer step, e.g. 1M; rounded to whole micro-batches"
    )
    global_batch_size: int | None = Field(
        None, gt=0, le=1 << 26, description="sequences per optimizer step (instead of global_batch_tokens)"
    )
    parallelism: Parallelism = Field(default_factory=Parallelism, description="parallel layout")
    precision: Precision = Field(Precision.BF16, description="matmul precision: bf16, fp16 or fp8")
    flash_attention: bool = Field(True, description="fused attention: scores never stored in memory")
    attention_kernel: AttentionKernel = Field(
        AttentionKernel.FLASH2, description="fused attention kernel when flash_attention: flash2 (2023-24 runs, "
        "the default) or flash3 (Hopper, from July 2024), at its measured efficiency (accelerator fused_attention)",
    )
    structured_sparsity: bool = Field(
        False, description="2:4 structured-sparse linear layers: twice the dense tensor peak (where the chip has it)"
    )
    pruned_fraction: float = Field(
        0.0, ge=0, le=0.95,
        description="fraction of linear-layer weights pruned away (structured): their FLOPs and memory shrink by it",
    )
    moe_capacity_factor: float = Field(
        1.0, ge=1, le=16, description="MoE expert slots per routed token (padding above 1 costs compute and traffic)"
    )
    memory_reserve_bytes: PositiveBytes = Field(
        2 * 2**30, alias="memory_reserve",
        description="memory set aside per GPU for the framework, CUDA context and fragmentation",
    )
    start_at_s: NonNegativeDuration = Field(0.0, alias="start_at", description="submission time")
    pool: str | None = Field(
        None, max_length=100, description="cluster pool it runs on (default: the scheduler takes the first pool, "
        "in the cluster's order, with room for it when it starts)",
    )
    pools: dict[str, PositiveInt] | None = Field(
        None, max_length=64, description="GPUs in each of several pools, for one job across them: whole "
        "data-parallel replicas per pool, summing to the layout's GPUs (docs/fleets.md, 'Training across pools')",
    )
    batch_split: Literal["balanced", "even"] = Field(
        "balanced", description="across pools: micro-batches per replica in proportion to its pool's speed "
        "(heterogeneity-aware, as Whale and HetPipe), or the same for all (the slowest pool sets the pace)",
    )
    tenant: str = Field("default", pattern=NAME_PATTERN, max_length=100, description="who pays for it")
    priority: int = Field(0, ge=-1000, le=1000, description="scheduling priority (higher first)")
    preemptible: bool = Field(
        False, description="higher-priority work may take its GPUs (with scheduler.preemption); it queues again"
    )
    on_preempt: Literal["checkpoint", "lose"] = Field(
        "checkpoint", description="a preempted job saves its progress, or loses it since its last checkpoint"
    )
    checkpoint: Checkpoint = Field(
        default_factory=lambda: Checkpoint(policy=CheckpointPolicy.NONE), description="checkpoint policy (default none)"
    )
    recovery: Recovery = Field(default_factory=Recovery, description="what happens when a failure stops the job")
    published: tuple[PublishedFigure, ...] = Field(
        (), max_length=16, description="figures the run this workload reproduces published (for `reproduce training`)"
    )

    @model_validator(mode="after")
    def _one_batch_size(self) -> TrainingWorkload:
        if self.global_batch_tokens is not None and self.global_batch_size is not None:
            raise ValueError("give global_batch_tokens or global_batch_size, not both")
        return self

    @model_validator(mode="after")
    def _whole_replicas(self) -> TrainingWorkload:
        if self.pools is None:
            return self
        if self.pool is not None:
            raise ValueError("give pool (one pool) or pools (GPUs in each of several), not both")
        lay = self.parallelism
        replica = lay.world // lay.dp
        if sum(self.pools.values()) != lay.world or any(n % replica for n in self.pools.values()):
            raise ValueError(f"pools must hold whole data-parallel replicas of {replica} GPUs summing to the "
                             f"layout's {lay.world} (got {', '.join(f'{k}: {v}' for k, v in self.pools.items())})")
        return self

    def __hash__(self) -> int:
        """As every frozen spec (caches key on it), with `pools`, a mapping, hashed as its items."""
        return hash(tuple((k, tuple(v.items()) if isinstance(v, dict) else v) for k, v in self.__dict__.items()))

    @property
    def pool_names(self) -> tuple[str, ...]:
        """The pools it names (none: the scheduler chooses)."""
        return tuple(self.pools) if self.pools else (self.pool,) if self.pool else ()


Workload = Annotated[TrainingWorkload | InferenceWorkload, Field(discriminator="kind")]


class Scenario(Strict):
    """A cluster, its prices, and the workloads that run on it."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="scenario name")
    description: str = Field("", max_length=10_000, description="what the scenario shows")
    seed: int = Field(0, ge=0, lt=2**63, description="root of the random-number tree")
    horizon_s: Duration | None = Field(
        None, alias="horizon", gt=0, description="stop the simulation at this time; unfinished work is reported"
    )
    cluster: ClusterSpec
    pricing: PricingSpec
    workloads: list[Workload] = Field(
        default_factory=list, max_length=100_000, description="training jobs and inference services"
    )
    jobs: list[JobSource] = Field(
        default_factory=list, max_length=1000, description="batch job streams: generated or from a CSV trace"
    )
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec, description="how queued work gets GPUs")
    failures: FailureModel | None = Field(None, description="component failure processes (default: none)")

    def input_files(self) -> list[str]:
        """The files the scenario reads besides itself: request and job traces, token-length tables (every
        `path:` field, resolved against the scenario's folder)."""
        found: list[str] = []

        def walk(node: object) -> None:
            if isinstance(node, BaseModel):
                for name in type(node).model_fields:
                    value = getattr(node, name)
                    if name == "path" and isinstance(value, str):
                        found.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list | tuple):
                for item in node:
                    walk(item)

        walk(self)
        return found

    @model_validator(mode="after")
    def _some_work(self) -> Scenario:
        if not self.workloads and not self.jobs:
            raise ValueError("give at least one workload or job stream (workloads: or jobs:)")
        return self
