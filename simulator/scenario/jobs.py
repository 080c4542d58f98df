"""The schema of batch job streams (`jobs:` in a scenario): many jobs that each hold some GPUs for some time,
from a CSV job trace or a synthetic generator with heavy-tailed sizes and durations, for multi-tenant
scheduling studies. A job has no model: it runs for its duration on its GPUs (and checkpoints, if asked)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from simulator.base import Strict
from simulator.models.workload.arrivals import JobColumns
from simulator.scenario.inference import CsvPath
from simulator.scenario.policies import PlacementName, SchedulerName
from simulator.scenario.refs import ModelRef
from simulator.units import Duration, NonNegativeDuration, PositiveCount

MAX_JOBS = 1_000_000  # each is a SimPy process of about 6 KB (60 us to set up): about 6 GB at the limit
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


class ChoiceGpus(Strict):
    """GPU counts drawn from a list with weights (e.g. many 1-GPU jobs, few 512-GPU ones)."""

    kind: Literal["choice"]
    values: list[Annotated[int, Field(gt=0, le=4_000_000)]] = Field(min_length=1, description="GPU counts")
    weights: list[Annotated[float, Field(ge=0)]] | None = Field(None, description="relative weights (default: equal)")

    @model_validator(mode="after")
    def _aligned(self) -> ChoiceGpus:
        if self.weights is not None and (len(self.weights) != len(self.values) or not any(self.weights)):
            raise ValueError("weights needs one non-negative weight per value, not all zero")
        return self


class PowerOfTwoGpus(Strict):
    """GPU counts 2^k with k geometric: P(2^k) ~ share^k, capped (cluster traces' heavy tail of sizes)."""

    kind: Literal["power_of_two"]
    share: float = Field(0.5, gt=0, lt=1, description="each doubling is this much rarer than the size before")
    max: int = Field(1024, gt=0, le=4_000_000, description="largest job, GPUs (rounded down to a power of two)")


GpuCount = Annotated[ChoiceGpus | PowerOfTwoGpus, Field(discriminator="kind")]


class ExponentialDuration(Strict):
    """Memoryless run times (M/M/c queueing checks)."""

    kind: Literal["exponential"]
    mean_s: Duration = Field(alias="mean", gt=0, description="mean run time")


class LognormalDuration(Strict):
    """Heavy-tailed run times around a median (most jobs short, a few run for days)."""

    kind: Literal["lognormal"]
    median_s: Duration = Field(alias="median", gt=0, description="median run time")
    sigma: float = Field(gt=0, le=5, description="standard deviation of the log")
    max_s: Duration | None = Field(None, alias="max", gt=0, description="cap (default: none)")


JobDuration = Annotated[ExponentialDuration | LognormalDuration, Field(discriminator="kind")]


class JobCommunication(Strict):
    """How a batch job without a model uses the network: one collective over all its GPUs, repeated, taking
    `fraction` of its run time when its ranks sit on GPUs 0..n-1 of the cluster alone. On the GPUs the
    scheduler gives it, that part takes what the collective takes there, and what other workloads on the
    same links leave it (docs/network.md, "Shared links")."""

    pattern: Literal["all_reduce", "all_to_all"] = Field(
        "all_reduce", description="all_reduce (data-parallel gradients, NCCL rings) or all_to_all (experts)"
    )
    fraction: float = Field(
        gt=0, lt=1, description="share of the run time spent in the collective on GPUs 0..n-1 alone "
        "(e.g. 0.2 for a job whose exposed communication is a fifth of its step)",
    )


class GeneratedJobs(Strict):
    """A synthetic job stream shaped like published cluster traces (Microsoft Philly, Jeon et al. 2019;
    SenseTime Helios, Hu et al. 2021: most jobs use one or a few GPUs and run briefly, a few use hundreds and
    run for days). The defaults are an illustration of those shapes, not a fit to either trace."""

    kind: Literal["generated"]
    name: str = Field("jobs", pattern=TENANT_PATTERN, max_length=100, description="prefix of the job names")
    count: int = Field(gt=0, le=MAX_JOBS, description="jobs to generate")
    rate_per_s: float = Field(alias="rate", gt=0, le=1e6, description="mean submissions per second (Poisson)")
    gpus: GpuCount = Field(description="GPUs per job: choice or power_of_two")
    duration: JobDuration = Field(description="run time on its GPUs without failures: exponential or lognormal")
    tenants: dict[Annotated[str, Field(pattern=TENANT_PATTERN)], Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"default": 1.0}, description="tenant -> share of the jobs"
    )
    priority: int = Field(0, ge=-1000, le=1000, description="scheduling priority (higher first)")
    preemptible: bool = Field(False, description="higher-priority work may stop it (with scheduler.preemption)")
    on_preempt: Literal["checkpoint", "lose"] = Field(
        "checkpoint", description="a preempted job saves its work, or loses it since its last checkpoint"
    )
    checkpoint_interval_s: NonNegativeDuration = Field(
        0.0, alias="checkpoint_interval", description="work is saved every interval (0: a stopped job restarts)"
    )
    start_at_s: NonNegativeDuration = Field(0.0, alias="start_at", description="when submissions begin")
    communication: JobCommunication | None = Field(
        None, description="the jobs' collective across their GPUs and its share of their run time (default: "
        "none, the jobs do not use the network)",
    )


class TraceJobs(Strict):
    """Jobs from a CSV file with a header row, one job per row. A row gives a run time, or tokens to train: then
    its run time is the tokens over the throughput of the fastest layout of its model on its GPUs."""

    kind: Literal["trace"]
    name: str = Field("trace", pattern=TENANT_PATTERN, max_length=100, description="prefix of the job names")
    path: CsvPath = Field(description="CSV file, relative to the scenario file")
    submit_column: str = Field("submit_time", description="submission time: seconds or timestamps")
    tenant_column: str = Field("tenant", description="tenant name")
    gpus_column: str = Field("gpus", description="GPUs")
    duration_column: str = Field("duration", description="run time, seconds (may be empty where a row gives tokens)")
    tokens_column: str | None = Field(
        "tokens", description="tokens to train instead of a run time, e.g. 2e9 or 2B (optional column)"
    )
    model_column: str | None = Field("model", description="catalog model of a row that gives tokens (optional)")
    model: ModelRef | None = Field(None, description="model of rows that give tokens but no model")
    seq_len: int = Field(4096, gt=0, le=1 << 20, description="sequence length of jobs priced from tokens")
    global_batch_tokens: PositiveCount = Field(
        4 * 2**20, le=1e10, description="tokens per optimizer step of jobs priced from tokens"
    )
    priority_column: str | None = Field("priority", description="priority (optional column; 0 without it)")
    start_at_s: NonNegativeDuration = Field(
        0.0, alias="start_at", description="when the trace's first submission happens (times are relative to it)"
    )
    preemptible_column: str | None = Field(
        "preemptible", description="true/false/1/0 per job (optional column; without it, `preemptible`)"
    )
    preemptible: bool = Field(False, description="higher-priority work may stop these jobs (where no column says)")
    on_preempt: Literal["checkpoint", "lose"] = Field(
        "checkpoint", description="a preempted job saves its work, or loses it since its last checkpoint"
    )
    checkpoint_interval_s: NonNegativeDuration = Field(
        0.0, alias="checkpoint_interval", description="work is saved every interval (0: a stopped job restarts)"
    )
    communication: JobCommunication | None = Field(
        None, description="the collective of rows given as run times, and its share of them (default: none); rows "
        "given as tokens communicate as their model's layout does",
    )

    def columns(self) -> JobColumns:
        """Where the trace's fields are."""
        return JobColumns(self.submit_column, self.tenant_column, self.gpus_column, self.duration_column,
                          self.priority_column, self.preemptible_column, self.tokens_column, self.model_column)


JobSource = Annotated[GeneratedJobs | TraceJobs, Field(discriminator="kind")]


class FairShareSpec(Strict):
    """Slurm's classic fair-share factor: a tenant's priority rises by weight x 2^(-usage / share), where usage is
    its share of all tenants' GPU-seconds, decayed with a half-life, and share its entitled fraction."""

    shares: dict[Annotated[str, Field(pattern=TENANT_PATTERN)], Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="tenant -> relative entitlement (tenants not listed: 1)"
    )
    half_life_s: Duration = Field(
        7 * 86_400.0, alias="half_life", gt=0, description="past use counts half after this long (Slurm's default: 7 d)"
    )
    weight: float = Field(
        1.0, gt=0, le=1e9, description="priority points at a fair-share factor of 1 (a tenant that used nothing). The "
        "default, 1, orders work within each (integer) priority level and never across levels; a larger weight lets "
        "light users pass heavier users' work of higher priority",
    )


class SchedulerSpec(Strict):
    """How the cluster hands out GPUs to queued workloads and jobs."""

    preemption: bool = Field(
        False, description="a queued request that cannot fit stops preemptible lower-priority work (lowest priority, "
        "most recently started first) when that makes room",
    )
    quotas: dict[Annotated[str, Field(pattern=TENANT_PATTERN)], Annotated[int, Field(gt=0, le=4_000_000)]] = Field(
        default_factory=dict,
        description="tenant -> most GPUs it may hold at once (Slurm's GrpTRES, a Kubernetes ResourceQuota); work "
        "that would take its tenant over waits, skipped by the scheduler so that it blocks nobody, until the "
        "tenant gives GPUs back. Tenants not listed are unlimited",
    )
    policy: SchedulerName = Field(
        "fifo", description="fifo: submission order, the head blocks; priority: higher priority "
        "first; backfill: priority order, and later work that fits may start if it does not delay the head (EASY "
        "backfill on run-time estimates)",
    )
    placement: PlacementName = Field(
        "topology_aware", description="where a request's GPUs go among the free ones: topology_aware (best fit in a "
        "node, one scalable unit for large jobs), packed (lowest-numbered whole nodes), spread (whole nodes dealt "
        "round the leaf groups / pods in turn) or random (seeded)",
    )
    fair_share: FairShareSpec | None = Field(
        None, description="order the queue by priority plus a fair-share bonus that falls as a tenant uses more than "
        "its share (with policy priority or backfill; preemption still follows the plain priorities)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SchedulerSpec:
        if self.fair_share is not None and self.policy == "fifo":
            raise ValueError("fair_share reorders the queue, so it needs policy: priority or backfill, not fifo")
        return self
