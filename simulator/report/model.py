"""The report: the single contract for simulation outputs. JSON first; tables and later HTML render it.

Every field carries its unit in its name or description; docs/report.md is generated from these
descriptions (`python -m simulator.report.fields`) and a test keeps it in step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# The per-workload figures comparisons and sweeps put side by side (dotted under workloads.<name>.), by kind.
HEADLINE_WORKLOAD_FIGURES = ("wall_clock_s", "step_time_s", "tokens_per_s", "mfu", "ettr", "steps", "cost_usd")
HEADLINE_SERVING_FIGURES = (
    "ttft_s.p50", "ttft_s.p99", "tpot_s.p50", "tpot_s.p99", "e2e_s.p50", "slo_attainment",
    "throughput_tokens_per_s", "requests.completed", "cost_usd", "usd_per_million_output_tokens",
)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CostBreakdown(_Out):
    """Where the money went, USD: GPU time (rented or amortized) by what it was used for, plus electricity."""

    useful_usd: float = Field(description="GPU time of work that counts: training steps kept, serving iterations")
    checkpoint_usd: float = Field(description="GPU time stalled writing checkpoints")
    failure_usd: float = Field(description="GPU time lost to failures: redone steps, detection, waiting for "
                               "repairs, restart and restore")
    idle_usd: float = Field(description="the rest of the GPU time paid for: unallocated, queued, idle replicas, "
                            "straggler slowdown, nodes under repair")
    energy_usd: float = Field(description="electricity at the meter (0 when the GPU-hour price includes power)")


class ClusterReport(_Out):
    """The whole cluster over the simulated span."""

    gpus: int = Field(description="accelerators in the cluster")
    utilization: float = Field(
        description="GPU-seconds of productive work (training steps that count, serving iterations) / "
        "GPU-seconds available over the simulated span, 0..1"
    )
    allocation: float = Field(description="GPU-seconds allocated to any workload / GPU-seconds available, 0..1")
    gpu_hours: float = Field(description="GPU-hours available over the simulated span (gpus x simulated_s / 3600)")
    energy_kwh: float = Field(
        description="facility energy of all GPUs (busy at their workload's power, otherwise idle), with "
        "server overhead and PUE, kWh"
    )
    gpu_hour_usd: float = Field(description="price of one GPU-hour: rental, or amortized ownership (see price_source)")
    price_source: str = Field(description="where gpu_hour_usd comes from")
    down_gpu_hours: float = Field(description="GPU-hours on failed nodes under repair")
    gpu_energy_kwh: float = Field(description="facility energy of the GPUs and their servers (PUE included), kWh")
    network_power_w: float = Field(description="scale-out switches and optical transceivers, W (before PUE)")
    network_energy_kwh: float = Field(description="facility energy of the network over the span, kWh")
    carbon_tco2e: float = Field(description="energy_kwh x pricing.carbon_kg_per_kwh / 1000, tonnes CO2e")
    rental_usd: float = Field(description="gpu_hours x gpu_hour_usd (rental, or amortized capital when owned)")
    energy_usd: float = Field(description="energy_kwh x pricing.electricity_usd_per_kwh")
    cost_usd: float = Field(description="rental_usd + energy_usd")
    cost_breakdown: CostBreakdown
    node_failures: int = Field(description="node outages the failure model caused (anywhere in the cluster)")
    link_failures: int = Field(description="network links the failure model took down (bandwidth lost meanwhile)")
    storage_failures: int = Field(description="outages of the shared checkpoint store")


class StepBreakdown(_Out):
    """One optimizer step on the critical path, seconds (sums to step_time_s)."""

    compute_s: float = Field(description="GEMMs and memory-bound operators of all micro-batches")
    tp_comm_s: float = Field(description="tensor-parallel collectives (not overlapped)")
    ep_comm_s: float = Field(description="expert-parallel all-to-alls, dispatch and combine (not overlapped)")
    pp_bubble_s: float = Field(description="pipeline fill and drain, (pp-1) micro-batch slots")
    pp_p2p_s: float = Field(description="activation and gradient sends between pipeline stages")
    dp_exposed_s: float = Field(description="part of the data-parallel gradient collective not hidden")
    optimizer_s: float = Field(description="Adam update, memory-bound")
    dp_comm_s: float = Field(description="whole data-parallel gradient collective, hidden or not (not summed)")
    tp_bottleneck: str = Field(description="busiest network channel of the tensor-parallel all-reduce")
    ep_bottleneck: str = Field(description="busiest network channel of the expert-parallel all-to-all")
    dp_bottleneck: str = Field(description="busiest network channel of the data-parallel gradient collective")


class MemoryReport(_Out):
    """Memory per GPU on the busiest pipeline stage, bytes."""

    weights_bytes: float = Field(description="bf16 weights after TP/PP (and ZeRO-3) sharding")
    gradients_bytes: float = Field(description="bf16 gradients (sharded from ZeRO-2)")
    optimizer_bytes: float = Field(description="fp32 master weights and Adam moments (sharded from ZeRO-1)")
    activations_bytes: float = Field(description="stored activations of the in-flight micro-batches")
    reserve_bytes: float = Field(description="framework / CUDA context / fragmentation reserve")
    total_bytes: float = Field(description="sum of the above")
    capacity_bytes: float = Field(description="accelerator memory")


class LossReport(_Out):
    """Where a training job's failure and checkpoint overheads went, GPU-hours of its layout's GPUs."""

    redone_work_gpu_hours: float = Field(description="computed steps thrown away by failures")
    detection_gpu_hours: float = Field(description="failures not yet noticed")
    waiting_gpu_hours: float = Field(description="waiting for a repair with no healthy spare")
    restart_gpu_hours: float = Field(description="rescheduling and re-initialising")
    restore_gpu_hours: float = Field(description="loading the last checkpoint")
    checkpoint_gpu_hours: float = Field(description="checkpoint stalls (not counted in lost_gpu_hours)")
    slowdown_gpu_hours: float = Field(description="extra step time while fail-slow stragglers ran (not counted in "
                                      "lost_gpu_hours)")


class TrainingReport(_Out):
    """One training workload."""

    kind: Literal["training"] = Field(description="workload kind")
    status: Literal["completed", "running", "queued"] = Field(
        description="completed; running = started but unfinished at the horizon; queued = never got its GPUs"
    )
    model: str = Field(description="model name")
    accelerator: str = Field(description="accelerator name")
    gpus: int = Field(description="GPUs the job holds (tp x pp x dp)")
    parameters: float = Field(description="total model parameters")
    active_parameters: float = Field(description="parameters a token passes through (MoE: < parameters)")
    submitted_s: float = Field(description="simulated time the job was submitted, s")
    started_s: float | None = Field(description="simulated time it got its GPUs, s (null if queued)")
    finished_s: float | None = Field(description="simulated time it finished, s (null if not finished)")
    queued_s: float = Field(description="time waiting for GPUs, s")
    wall_clock_s: float = Field(description="submission to finish (or to the end of the simulation), s")
    steps: int = Field(description="optimizer steps completed")
    steps_total: int = Field(description="optimizer steps needed to train on `tokens_target`")
    steps_remaining: int = Field(description="steps_total - steps")
    step_time_s: float = Field(description="duration of one optimizer step, s")
    step_breakdown: StepBreakdown
    tokens_per_step: float = Field(description="global batch in tokens after rounding to whole micro-batches")
    micro_batches: int = Field(description="micro-batches per data-parallel replica per step")
    tokens: float = Field(description="tokens trained (steps x tokens_per_step)")
    tokens_target: float = Field(description="tokens asked for in the scenario")
    tokens_per_s: float = Field(description="training throughput while running, tokens/s")
    model_flops: float = Field(description="model FLOPs of the whole run (3 passes, no recompute)")
    mfu: float = Field(description="model FLOPs utilization: model FLOP/s per GPU / dense peak, 0..1")
    hfu: float = Field(description="hardware FLOPs utilization: including recomputation, 0..1")
    achieved_tflops_per_gpu: float = Field(description="model TFLOP/s per GPU (MFU convention)")
    hardware_tflops_per_gpu: float = Field(
        description="TFLOP/s per GPU counting recomputation (the convention of Megatron-LM's Table 1)"
    )
    memory_per_gpu_bytes: float = Field(description="memory needed per GPU on the busiest stage, bytes")
    memory: MemoryReport
    gpu_hours: float = Field(description="GPU-hours the job held its GPUs")
    energy_kwh: float = Field(description="facility energy of its GPUs while held (server overhead, PUE), kWh")
    carbon_tco2e: float = Field(description="energy_kwh at the grid's carbon intensity, tonnes CO2e")
    cost_usd: float = Field(description="gpu_hours x gpu_hour_usd + energy_kwh x electricity_usd_per_kwh")
    cost_breakdown: CostBreakdown
    cost_per_million_tokens_usd: float = Field(description="cost_usd / tokens x 1e6 (0 when no tokens)")
    interruptions: int = Field(description="failures that stopped the job (one per event, however many nodes)")
    preemptions: int = Field(description="times higher-priority work took its GPUs (it queued again)")
    requeues: int = Field(description="times a node failure with no spare sent it back to the queue "
                          "(recovery.on_no_spare: requeue) to be placed anew on healthy GPUs")
    requeued_s: float = Field(description="time waiting for GPUs again after preemptions and requeues, s")
    interruptions_by_cause: dict[str, int] = Field(description="interruptions by failure cause")
    checkpoints: int = Field(description="checkpoints written")
    checkpoints_skipped: int = Field(description="checkpoints due while the checkpoint store was down")
    checkpoint_interval_s: float | None = Field(description="time between checkpoints (whole steps), s; null: none")
    lost_gpu_hours: float = Field(
        description="GPU-hours of redone work, detection, waiting for repairs, restart and restore"
    )
    losses: LossReport
    ettr: float = Field(description="effective training time ratio: productive time / time holding its GPUs "
                        "since the start (waits in the queue after preemptions and requeues excluded: see "
                        "requeued_s), 0..1")


class RequestCounts(_Out):
    """Where every request of an inference workload ended: arrived = completed + failed + queued_at_end +
    in_flight_at_end, and total = arrived + not_arrived."""

    total: int = Field(description="requests in the workload's load (generated or replayed)")
    arrived: int = Field(description="arrived before the simulation stopped")
    completed: int = Field(description="all output tokens generated")
    failed: int = Field(description="could never fit in a replica's KV cache, or lost to a failure under "
                        "on_failure: fail")
    retried: int = Field(description="restarts on another replica after a failure (a request may count twice)")
    queued_at_end: int = Field(description="waiting for a replica (or for one to come up) when the simulation stopped")
    in_flight_at_end: int = Field(description="in a running batch, or moving its KV cache between pools, at the end")
    not_arrived: int = Field(description="due after the simulation stopped (at the horizon)")
    preemptions: int = Field(description="times a running request lost its KV blocks to make room (recomputed or "
                             "swapped)")


class LatencyReport(_Out):
    """One latency over the requests that reached the point measured, seconds (null when none did)."""

    mean: float | None = Field(description="arithmetic mean, s")
    p50: float | None = Field(description="median, s")
    p90: float | None = Field(description="90th percentile, s")
    p99: float | None = Field(description="99th percentile, s")


class SloReport(_Out):
    """The service-level objective the workload is judged against."""

    ttft_s: float = Field(description="time to first token, s")
    tpot_s: float = Field(description="time per output token after the first, s")


class InferenceReport(_Out):
    """One inference (serving) workload."""

    kind: Literal["inference"] = Field(description="workload kind")
    status: Literal["completed", "running", "queued"] = Field(
        description="completed = every request completed or failed; running = requests left at the horizon; "
        "queued = never got its GPUs"
    )
    model: str = Field(description="model name")
    accelerator: str = Field(description="accelerator name")
    gpus: int = Field(description="GPUs reserved: every replica the autoscaler may start, and the decode pool")
    replicas: int = Field(description="main-pool replicas at the start (prefill pool when disaggregated)")
    max_replicas: int = Field(description="main-pool replicas the autoscaler may reach (= replicas without it)")
    decode_replicas: int = Field(description="decode-pool replicas (0 without disaggregation)")
    tp: int = Field(description="tensor-parallel GPUs per pipeline stage of a main-pool replica")
    pp: int = Field(description="pipeline stages per main-pool replica")
    weights_per_gpu_bytes: float = Field(description="weights each GPU of a main-pool replica holds, bytes")
    kv_capacity_tokens: int = Field(description="tokens the KV cache of one main-pool replica holds")
    started_s: float | None = Field(description="simulated time the service got its GPUs, s (null if queued)")
    finished_s: float | None = Field(description="when its last request completed or failed, s (null if not)")
    requests: RequestCounts
    ttft_s: LatencyReport = Field(description="time to first token: arrival to the first output token")
    tpot_s: LatencyReport = Field(
        description="time per output token: (last - first token time) / (output tokens - 1), per completed request "
        "with two or more"
    )
    e2e_s: LatencyReport = Field(description="end-to-end latency: arrival to the last token, completed requests")
    throughput_tokens_per_s: float = Field(
        description="output tokens of completed requests / time from the service's start to the end, tokens/s"
    )
    input_tokens_per_s: float = Field(description="prompt tokens of completed requests over the same time, tokens/s")
    requests_per_s: float = Field(description="completed requests over the same time, requests/s")
    slo: SloReport
    slo_attainment: float | None = Field(
        description="fraction of arrived requests completed within both the TTFT and the TPOT objective (null: "
        "none arrived)"
    )
    replica_busy_fraction: float = Field(
        description="time replicas spent running iterations / time provisioned, 0..1"
    )
    kv_cache_utilization: float = Field(
        description="KV-cache blocks held, time-averaged over provisioned replicas, 0..1"
    )
    replica_failures: int = Field(description="replica outages caused by failures of their nodes")
    prefix_cache_hit_rate: float | None = Field(
        description="admissions that found the request's prefix cached on its replica / admissions of requests "
        "with a prefix (null without prefix caching)"
    )
    gpu_hours: float = Field(description="GPU-hours of provisioned replicas (autoscaled ones from their start)")
    energy_kwh: float = Field(
        description="facility energy of those GPUs: full power while iterating, idle power otherwise (server "
        "overhead, PUE), kWh"
    )
    carbon_tco2e: float = Field(description="energy_kwh at the grid's carbon intensity, tonnes CO2e")
    cost_usd: float = Field(description="gpu_hours x gpu_hour_usd + energy_kwh x electricity_usd_per_kwh")
    cost_breakdown: CostBreakdown
    usd_per_million_output_tokens: float | None = Field(
        description="cost_usd / output tokens of completed requests x 1e6 (null: none completed)"
    )
    usd_per_million_tokens: float | None = Field(
        description="cost_usd / (input + output tokens of completed requests) x 1e6 (null: none completed)"
    )


WorkloadReport = Annotated[TrainingReport | InferenceReport, Field(discriminator="kind")]


def headline_figures(workload: TrainingReport | InferenceReport) -> tuple[str, ...]:
    """The dotted figures of a workload that comparisons put side by side."""
    return HEADLINE_SERVING_FIGURES if workload.kind == "inference" else HEADLINE_WORKLOAD_FIGURES


def dotted_value(model: BaseModel, path: str) -> object:
    """The value at a dotted path under `model`, e.g. dotted_value(workload, "ttft_s.p50")."""
    value: object = model
    for part in path.split("."):
        value = getattr(value, part)
    return value


CLUSTER_COMPARED = ("utilization", "cost_usd", "energy_kwh")
JOBS_COMPARED = ("mean_queued_s", "p99_queued_s", "mean_slowdown", "preemptions", "gpu_hours")
TENANT_COMPARED = ("gpu_hours", "cost_usd", "batch_mean_queued_s")


def comparison_keys(report: Report) -> list[str]:
    """The dotted figures comparisons put side by side: simulated time, the cluster, each workload's headline
    figures, and the batch jobs and each tenant where the scenario has job streams."""
    keys = ["simulated_s", *(f"cluster.{k}" for k in CLUSTER_COMPARED)]
    for name, workload in report.workloads.items():
        keys += [f"workloads.{name}.{k}" for k in headline_figures(workload)]
    if report.jobs is not None:
        keys += [f"jobs.{k}" for k in JOBS_COMPARED]
        keys += [f"tenants.{name}.{k}" for name in report.tenants for k in TENANT_COMPARED]
    return keys


def figure_value(report: Report, key: str) -> float | None:
    """The number at a dotted key of `report` (names of workloads and tenants are keys of their maps); None
    where the report has no such figure or it is not a number."""
    value: object = report
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class BatchJobRow(_Out):
    """One batch job."""

    name: str = Field(description="job name (source name and index)")
    tenant: str = Field(description="who pays for it")
    gpus: int = Field(description="GPUs it holds while running")
    model: str | None = Field(description="model of a job given as tokens to train (null: given a run time)")
    tokens: float | None = Field(description="its tokens to train; its duration is their training time on its GPUs")
    status: Literal["completed", "running", "queued"] = Field(description="at the end of the simulation")
    submitted_s: float = Field(description="submission time, s")
    started_s: float | None = Field(description="first start, s (null if it never started)")
    finished_s: float | None = Field(description="completion, s (null if not finished)")
    queued_s: float = Field(description="time waiting for GPUs, over every attempt, s")
    duration_s: float = Field(description="run time it needs without interruptions, s")
    completion_s: float = Field(description="submission to finish (or to the end of the simulation), s")
    slowdown: float | None = Field(description="completion time / duration (1 = ran at once, uninterrupted); "
                                   "null if not finished")
    interruptions: int = Field(description="times a node failure stopped it")
    preemptions: int = Field(description="times higher-priority work stopped it")
    lost_gpu_hours: float = Field(description="run time thrown away by interruptions and preemptions x GPUs, "
                                  "GPU-hours")


class BatchJobsReport(_Out):
    """All batch jobs of the scenario's `jobs:` streams."""

    count: int = Field(description="jobs")
    completed: int = Field(description="finished")
    running: int = Field(description="started, unfinished at the end")
    queued: int = Field(description="never started")
    mean_queued_s: float = Field(description="mean time waiting for GPUs, s")
    p50_queued_s: float = Field(description="median time waiting for GPUs, s")
    p99_queued_s: float = Field(description="99th percentile of time waiting for GPUs, s")
    mean_slowdown: float | None = Field(description="mean completion time / duration over finished jobs")
    p99_slowdown: float | None = Field(description="99th percentile slowdown over finished jobs")
    interruptions: int = Field(description="node failures that stopped a job")
    preemptions: int = Field(description="times higher-priority work stopped a job")
    lost_gpu_hours: float = Field(description="run time thrown away by interruptions and preemptions, GPU-hours")
    gpu_hours: float = Field(description="GPU-hours the jobs held")
    rows: list[BatchJobRow] = Field(description="every job, in submission order")


class TenantReport(_Out):
    """What one tenant used and pays."""

    gpu_hours: float = Field(description="GPU-hours its training jobs, services and batch jobs held")
    share: float = Field(description="its gpu_hours / all tenants' gpu_hours, 0..1")
    cost_usd: float = Field(description="gpu_hours x gpu_hour_usd (GPU time; energy is the cluster's)")
    workloads: list[str] = Field(description="its training jobs and services, by name")
    batch_jobs: int = Field(description="its batch jobs")
    preemptions_caused: int = Field(description="allocations of others stopped to make room for its work")
    batch_mean_queued_s: float | None = Field(
        description="mean time its batch jobs waited for GPUs, every attempt, s; null without batch jobs")
    quota_gpus: int | None = Field(description="most GPUs it may hold at once (scheduler.quotas); null: no limit")
    fair_share_factor: float | None = Field(
        description="2^(-decayed usage / share) at the end, 0..1 (1: used nothing); null without fair share")


class TimelineEvent(_Out):
    """A failure or checkpoint of a training workload."""

    time_s: float = Field(description="simulated time, s")
    kind: Literal["failure", "checkpoint"] = Field(description="what happened")
    cause: str = Field(description="failure cause (empty for checkpoints)")


class WorkloadSeries(_Out):
    """One workload over time, at the run's sample times."""

    progress: list[float] = Field(description="training: fraction of steps done; inference: fraction of requests "
                                  "completed or failed")
    queued: list[float] = Field(description="inference: requests waiting for a replica (empty for training)")
    running: list[float] = Field(description="inference: requests in a batch or moving (empty for training)")
    events: list[TimelineEvent] = Field(description="training: failures and checkpoints, in time order (at most "
                                        "1,000 of each, spread over the run)")


class LatencyCdf(_Out):
    """Latency quantiles of an inference workload's requests (null where no request has the latency)."""

    probabilities: list[float] = Field(description="0, 0.01, ..., 1")
    ttft_s: list[float | None] = Field(description="time to first token at each probability, s")
    tpot_s: list[float | None] = Field(description="time per output token at each probability, s")
    e2e_s: list[float | None] = Field(description="end-to-end latency at each probability, s")


class TimeSeries(_Out):
    """The run over time for plots: at most 512 samples, however long the run (sampled with an interval that
    doubles as the run goes on), the last at the end."""

    time_s: list[float] = Field(description="sample times, s")
    allocated_gpus: list[float] = Field(description="GPUs held by workloads")
    busy_gpus: list[float] = Field(description="GPUs computing: training jobs running steps, serving replicas "
                                   "in an iteration (utilization over time)")
    down_gpus: list[float] = Field(description="GPUs on failed nodes")
    waiting_workloads: list[float] = Field(description="workloads and batch jobs queued for their GPUs")
    fragmentation: list[float] = Field(description="free GPUs on partly used nodes / free GPUs on healthy nodes")
    batch_running: list[float] = Field(description="batch jobs holding GPUs (empty without jobs)")
    tenant_gpus: dict[str, list[float]] = Field(description="GPUs each tenant holds (its share over time)")
    workloads: dict[str, WorkloadSeries] = Field(description="per workload, by name")
    latency_cdf: dict[str, LatencyCdf] = Field(description="per inference workload, by name")


class Report(_Out):
    """Everything a run produced. Same scenario and seed give the same report except `wall_s`."""

    scenario: str = Field(description="scenario name")
    seed: int = Field(description="root seed of the random-number tree")
    clustersim_version: str = Field(description="version that produced the report")
    simulated_s: float = Field(description="simulated time from 0 to the last event (or the horizon), s")
    wall_s: float = Field(description="real time the simulation took, s (the only non-deterministic field)")
    cluster: ClusterReport
    workloads: dict[str, WorkloadReport] = Field(description="per workload, by name (training or inference)")
    notes: list[str] = Field(description="adjustments made to the inputs (batch rounding) and caveats")
    jobs: BatchJobsReport | None = Field(description="batch job streams (null without `jobs:`)")
    tenants: dict[str, TenantReport] = Field(description="per tenant, by name")
    series: TimeSeries = Field(description="the run over time, for the HTML report's plots (empty in Monte Carlo "
                               "replicates)")


class BusBandwidthRow(_Out):
    """One collective at one scope and message size."""

    op: str = Field(description="all_reduce, all_gather or all_to_all")
    scope: str = Field(description="8 GPUs, one unit (scalable unit / pod / group / cube) or cluster")
    gpus: int = Field(description="ranks in the collective (GPUs 0..gpus-1)")
    size_bytes: float = Field(description="per-rank buffer, bytes (NCCL-tests convention)")
    time_s: float = Field(description="duration, s")
    bus_bandwidth_gb_per_s: float = Field(description="NCCL-tests bus bandwidth, GB/s (1e9 bytes/s)")
    algorithm: str = Field(description="the fastest applicable algorithm (ring, tree, hierarchical, in_switch)")
    bottleneck: str = Field(description="the busiest channel, or the reduction engine")


class TopologyReport(_Out):
    """What `clustersim topology` says about a scenario's network."""

    scenario: str = Field(description="scenario name")
    kind: str = Field(description="topology kind")
    gpus: int = Field(description="accelerators")
    parts: dict[str, int] = Field(description="graph nodes by role: gpu, nvswitch, leaf, spine, core, router, ocs")
    links: dict[str, int] = Field(description="physical links by kind (scale_up, nic, leaf_spine, ici, ...)")
    bisection_bandwidth_bytes_per_s: float = Field(
        description="bytes/s between the two halves of the GPUs when each sends to a partner in the other half"
    )
    diameter_hops: int = Field(description="links on the longest shortest GPU-to-GPU path")
    oversubscription: list[float] = Field(description="per switch tier (leaf, spine); empty for switchless kinds")
    unit_gpus: int = Field(description="GPUs of one scalable unit, pod, group or cube")
    details: dict[str, object] = Field(description="kind-specific counts (leaves, pods, groups, cubes, ...)")
    bus_bandwidth: list[BusBandwidthRow] = Field(description="collective bus bandwidth by op, scope and size")


class ComparedRun(_Out):
    """One column of a comparison."""

    label: str = Field(description="scenario file or variant (its --set/--vary values)")
    report: Report
    ratios: dict[str, float] = Field(description="headline figures divided by the first column's")


class Comparison(_Out):
    """Several runs side by side (`clustersim compare`)."""

    runs: list[ComparedRun]


class LawPlanRow(_Out):
    """One scaling law's compute-optimal plan and what it takes to train it (`clustersim plan`)."""

    title: str = Field(description="law name")
    rule: str = Field(description="the law as a formula: N = G * (C / c0)^a, D = C / (6 N)")
    source: str = Field(description="where the law and its constants come from")
    params: float = Field(description="compute-optimal parameters N")
    tokens: float = Field(description="compute-optimal training tokens D")
    flops: float = Field(description="training compute C = 6 N D, FLOPs")
    gopher_units: float = Field(description="flops / 5.76e23 (Gopher's training budget, Hoffmann et al. 2022)")
    tokens_per_param: float = Field(description="tokens / params")
    chinchilla_loss_nats: float = Field(
        description="Hoffmann et al. 2022's fitted loss E + A/N^alpha + B/D^beta at (params, tokens), nats/token"
    )
    mfu: float = Field(description="model FLOPs utilization assumed for the schedule, 0..1")
    gpus: int = Field(description="GPUs: the fewest that finish within target_days, or the GPUs given/bought")
    days: float = Field(description="training time on `gpus` at `mfu` of the dense BF16 peak, days")
    gpu_hours: float = Field(description="flops / (peak_bf16 x mfu) / 3600, GPU-hours")
    cost_usd: float | None = Field(description="gpu_hours x gpu_hour_usd, USD (null without a price)")


class PlanReport(_Out):
    """Compute-optimal parameters and tokens under several scaling laws, with GPUs, days and cost."""

    given: Literal["compute", "params", "budget"] = Field(description="what the plan starts from")
    compute_flops: float | None = Field(
        description="the compute budget, FLOPs: as given, or bought by budget_usd (null when planning from params)"
    )
    params_given: float | None = Field(description="the parameter count planned for (null unless given)")
    budget_usd: float | None = Field(description="the dollar budget (null unless given)")
    budget_gpus: int | None = Field(description="GPUs the budget rents for target_days (null unless a budget)")
    accelerator: str = Field(description="accelerator name")
    peak_bf16_flops_per_s: float = Field(description="its dense BF16 peak, FLOP/s per GPU")
    gpu_hour_usd: float | None = Field(description="price of one GPU-hour, USD (null when none is known)")
    price_source: str = Field(description="where gpu_hour_usd comes from")
    target_days: float | None = Field(description="training time the GPU counts are sized for, days")
    gpus_given: int | None = Field(description="GPU count given with --gpus (then days are computed)")
    mfu_source: str = Field(description="where each law's MFU comes from")
    laws: dict[str, LawPlanRow] = Field(
        description="per law: chinchilla_approach1, chinchilla_approach3, tokens_per_param_20, kaplan2020"
    )
    scenario_law: str = Field(description="the law whose plan `-o` writes as a training scenario")
    notes: list[str] = Field(description="assumptions and caveats")


class ReproducedRun(_Out):
    """One published training run next to the model's prediction."""

    id: str = Field(description="case id in simulator/catalog/published_training.yaml")
    source: str = Field(description="where the published figure comes from")
    gpus: int = Field(description="GPUs of the run")
    layout: str = Field(description="TP/PP/DP (and recompute) as published")
    metric: str = Field(description="hardware (counts recomputation, Megatron-LM) or model (MFU convention)")
    published_tflops_per_gpu: float = Field(description="published TFLOP/s per GPU")
    predicted_tflops_per_gpu: float = Field(description="the step model's TFLOP/s per GPU in the same convention")
    error: float = Field(description="predicted / published - 1")
    memory_per_gpu_bytes: float = Field(description="the memory model's estimate for the busiest stage, bytes")
    fits: bool = Field(description="whether that estimate fits the GPU (published runs did)")
    assumed: str = Field(description="setup the source does not state, chosen the same for all its rows")


class TimeEstimate(_Out):
    """A published end-to-end time estimate recomputed from the model's FLOP count."""

    id: str = Field(description="case id")
    published_days: float = Field(description="the published estimate, days")
    computed_days: float = Field(description="model hardware FLOPs of the run / (GPUs x forced TFLOP/s), days")
    error: float = Field(description="computed / published - 1")


class _Reproduction(_Out):
    """How far predictions land from published figures, over all cases."""

    median_abs_error: float = Field(description="median |error| over the runs")
    max_abs_error: float = Field(description="largest |error| over the runs")


class ReproductionReport(_Reproduction):
    """`clustersim reproduce training`: predictions against every published case."""

    runs: list[ReproducedRun]
    time_estimate: TimeEstimate


class LayoutRow(_Out):
    """One ranked layout."""

    rank: int = Field(description="1 = fastest")
    tp: int = Field(description="tensor-parallel degree")
    cp: int = Field(description="context-parallel degree")
    pp: int = Field(description="pipeline stages")
    virtual_stages: int = Field(description="interleaved chunks per stage")
    dp: int = Field(description="data-parallel replicas")
    ep: int = Field(description="expert-parallel degree")
    micro_batch_size: int = Field(description="sequences per micro-batch")
    activation_recompute: str = Field(description="none, selective or full")
    zero_stage: int = Field(description="ZeRO stage")
    step_time_s: float = Field(description="predicted optimizer step, s")
    tokens_per_s: float = Field(description="training throughput, tokens/s")
    mfu: float = Field(description="model FLOPs utilization, 0..1")
    tflops_per_gpu: float = Field(description="model TFLOP/s per GPU")
    memory_per_gpu_bytes: float = Field(description="memory of the busiest stage, bytes")
    days: float = Field(description="days to train the workload's tokens at this throughput")
    cost_usd: float = Field(description="GPU rental for those days at the scenario's price")


class LayoutReport(_Out):
    """`clustersim plan-layout`: the fastest layouts that fit."""

    scenario: str = Field(description="scenario name")
    workload: str = Field(description="training workload searched")
    model: str = Field(description="model name")
    gpus: int = Field(description="GPUs the layouts use")
    enumerated: int = Field(description="layouts enumerated")
    fitting: int = Field(description="layouts that fit in memory")
    evaluated: int = Field(description="layouts priced with the full step model (after a compute-only pass)")
    wall_s: float = Field(description="real time the search took, s")
    layouts: list[LayoutRow]


class FigureStats(_Out):
    """One numeric figure of the report over the replicates where it is a number."""

    n: int = Field(description="replicates in which the figure is a number (null elsewhere: such as finished_s "
                   "of a job that did not finish in some of them)")
    mean: float = Field(description="arithmetic mean")
    std: float = Field(description="sample standard deviation (divisor n - 1; 0 when n = 1)")
    ci95_low: float = Field(description="mean - 1.96 std / sqrt(n): normal approximation of the 95 % confidence "
                            "interval of the mean")
    ci95_high: float = Field(description="mean + 1.96 std / sqrt(n)")
    min: float = Field(description="smallest value")
    max: float = Field(description="largest value")


class ModeStats(_Out):
    """A non-numeric figure (status, bottleneck, note) over the replicates: its most common value."""

    mode: str | bool = Field(description="most common value (ties: the one seen first, in replicate order)")
    count: int = Field(description="replicates with that value")
    distinct: int = Field(description="distinct values seen")


class ReplicatesReport(_Out):
    """`clustersim run S --replicates N`: every numeric figure of the report over N independent seeds."""

    scenario: str = Field(description="scenario name")
    seed: int = Field(description="the scenario's root seed the replicate seeds are derived from")
    clustersim_version: str = Field(description="version that produced the report")
    replicates: int = Field(description="independent runs")
    seeds: list[int] = Field(
        description="seed of replicate i: numpy.random.SeedSequence(seed).spawn(replicates)[i].generate_state(1)[0]"
    )
    method: str = Field(description="how seeds, figures and intervals are computed, in words")
    workloads: list[str] = Field(description="workload names, in scenario order")
    headline: list[str] = Field(description="paths of the figures the terminal table and sweep rows show")
    figures: dict[str, FigureStats] = Field(
        description="every int/float leaf of the report JSON except wall_s and seed, by dotted path (list items "
        "by index), e.g. workloads.pretrain.ettr"
    )
    modes: dict[str, ModeStats] = Field(
        description="every string or boolean leaf (except scenario and clustersim_version), by dotted path: its "
        "most common value"
    )
    wall_s: float = Field(
        description="sum of the replicates' own wall_s, s (real time, summed over workers; the only "
        "non-deterministic field)"
    )


class SweepFigure(_Out):
    """A headline figure at one grid point."""

    mean: float = Field(description="mean over the replicates")
    ci95: float = Field(description="half-width of the 95 % confidence interval, 1.96 std / sqrt(n)")


class SweepRow(_Out):
    """One grid point of `clustersim sweep`."""

    grid: dict[str, str] = Field(description="grid key -> value as given on the command line")
    replicates: int = Field(description="replicates run at this point")
    figures: dict[str, SweepFigure] = Field(description="headline figures by dotted path")


class ServingRun(_Out):
    """One published offline serving measurement next to the model's prediction."""

    id: str = Field(description="case id in simulator/catalog/published_serving.yaml")
    input_tokens: int = Field(description="prompt length")
    output_tokens: int = Field(description="generated length")
    published_tokens_per_s: float = Field(description="published output tokens/s")
    predicted_tokens_per_s: float = Field(description="predicted output tokens/s")
    error: float = Field(description="predicted / published - 1")
    concurrency: int = Field(description="sequences resident in the predicted steady state")
    limited_by: str = Field(description="what capped the concurrency: kv cache, max batch or token budget")
    iteration_s: float = Field(description="predicted iteration time, s")


class ServingReproductionReport(_Reproduction):
    """`clustersim reproduce serving`: offline throughput against published measurements."""

    runs: list[ServingRun]
    assumptions: dict[str, str] = Field(description="setup the source does not state")


class LifetimeRow(_Out):
    """One model size at the target quality: training once, serving for the lifetime."""

    params: float = Field(description="parameters N")
    tokens: float = Field(description="training tokens D at which N reaches the target loss")
    tokens_per_param: float = Field(description="D / N (Chinchilla-optimal is about 20)")
    training_flops: float = Field(description="6 N D, FLOPs")
    training_gpu_hours: float = Field(description="training_flops / (peak x MFU) / 3600")
    training_usd: float = Field(description="training_gpu_hours x gpu_hour_usd")
    serving_tp: int = Field(description="tensor parallelism of a serving replica")
    serving_pp: int = Field(description="pipeline stages of a serving replica")
    serving_tokens_per_s_per_gpu: float = Field(description="prompt + generated tokens per second per GPU at the "
                                                "offline maximum throughput")
    usd_per_million_tokens: float = Field(description="serving cost per million tokens (prompt + generated), USD")
    serving_usd: float = Field(description="tokens_per_day x days x usd_per_million_tokens / 1e6")
    total_usd: float = Field(description="training_usd + serving_usd")


class LifetimeReport(_Out):
    """`clustersim plan-lifetime`: the model size that minimises training plus lifetime serving cost."""

    compute_flops: float = Field(description="the quality target as a compute-optimal training budget, FLOPs")
    target_loss_nats: float = Field(description="Chinchilla's fitted loss of that budget's optimal model")
    chinchilla_params: float = Field(description="the compute-optimal size (Chinchilla approach 3)")
    chinchilla_tokens: float = Field(description="its training tokens")
    tokens_per_day: float = Field(description="serving demand, prompt + generated tokens per day")
    days: float = Field(description="serving lifetime, days")
    serving_tokens: float = Field(description="tokens_per_day x days")
    input_tokens: int = Field(description="prompt tokens of a typical request")
    output_tokens: int = Field(description="generated tokens of a typical request")
    accelerator: str = Field(description="accelerator for training and serving")
    gpu_hour_usd: float = Field(description="price of a GPU-hour")
    price_source: str = Field(description="where the price comes from")
    mfu: float = Field(description="training model FLOPs utilization")
    mfu_source: str = Field(description="where the MFU comes from")
    rows: list[LifetimeRow] = Field(description="candidate sizes, smallest first")
    optimal_index: int = Field(description="row with the least total cost")
    chinchilla_index: int = Field(description="row nearest the compute-optimal size")
    notes: list[str] = Field(description="assumptions")
