"""The run report: the contract for what `clustersim run` produces. JSON first; the terminal tables
(report/render.py) and the HTML page (report/html.py) render it.

Every field carries its unit in its name or description; docs/report.md is generated from these
descriptions (`python -m simulator.tools.fielddocs`) and a test keeps it in step. The outputs of experiments
and tools are in report/experiments.py and report/tools.py.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr

from simulator.models.workload.step_time import StepTime
from simulator.report.fleet import PoolReport
from simulator.report.output import Output
from simulator.report.power import SitePowerReport
from simulator.report.records import RunRecords
from simulator.report.series import TimeSeries
from simulator.report.tables import frames


class CostBreakdown(Output):
    """Where the money went, USD: GPU time (rented or amortized) by what it was used for, plus electricity."""

    useful_usd: float = Field(description="GPU time of work that counts: training steps kept, batch jobs' run "
                              "time kept, serving iterations whose work was not thrown away")
    checkpoint_usd: float = Field(description="GPU time stalled writing checkpoints")
    failure_usd: float = Field(description="GPU time lost to failures: redone steps, detection, waiting for "
                               "repairs, restart and restore; batch jobs' lost run time; serving iterations whose "
                               "work a replica failure threw away")
    idle_usd: float = Field(description="the rest of the GPU time paid for: unallocated, queued, idle replicas, "
                            "straggler slowdown, nodes under repair")
    energy_usd: float = Field(description="electricity at the meter (0 when the GPU-hour price includes power)")


class LinkLoad(Output):
    """One network channel's time-weighted utilization by training traffic."""

    name: str = Field(description="channel name, as the topology names it (e.g. leaf uplinks[3])")
    tier: str = Field(description="channel kind: scale_up, nic, leaf, spine, core, ici, local, global, ocs")
    utilization: float = Field(description="fraction of the simulated span it carried traffic, 0..1")


class ClusterReport(Output):
    """The whole cluster over the simulated span."""

    gpus: int = Field(description="accelerators in the cluster")
    utilization: float = Field(
        description="GPU-seconds of productive work (training steps that count, serving iterations) / "
        "GPU-seconds available over the simulated span, 0..1")
    allocation: float = Field(description="GPU-seconds allocated to any workload / GPU-seconds available, 0..1")
    gpu_hours: float = Field(description="GPU-hours available over the simulated span (gpus x simulated_s / 3600)")
    energy_kwh: float = Field(
        description="facility energy of all GPUs (busy at their workload's power, otherwise idle), with "
        "server overhead and PUE, kWh")
    gpu_hour_usd: float = Field(description="price of one GPU-hour: rental, or amortized ownership (see price_source)")
    price_source: str = Field(description="where gpu_hour_usd comes from")
    down_gpu_hours: float = Field(description="GPU-hours on failed nodes under repair")
    gpu_energy_kwh: float = Field(description="facility energy of the GPUs and their servers (PUE included), kWh")
    network_power_w: float = Field(description="scale-out switches and optical transceivers, W (before PUE)")
    network_energy_kwh: float = Field(description="facility energy of the network over the span, kWh")
    carbon_tco2e: float | None = Field(description="energy_kwh x pricing.carbon_kg_per_kwh / 1000, tonnes CO2e "
                                       "(null: carbon intensity not set)")
    electricity_usd_per_kwh: float | None = Field(description="pricing.electricity_usd_per_kwh (null: not set)")
    rental_usd: float = Field(description="gpu_hours x gpu_hour_usd (rental, or amortized capital when owned); with "
                              "pools, the sum of theirs (spot capacity is not paid while reclaimed)")
    energy_usd: float = Field(description="energy_kwh x pricing.electricity_usd_per_kwh (0 when that is not set)")
    cost_usd: float = Field(description="rental_usd + energy_usd")
    cost_breakdown: CostBreakdown
    node_failures: int = Field(description="node outages the failure model caused (anywhere in the cluster)")
    link_failures: int = Field(description="network links the failure model took down (bandwidth lost meanwhile)")
    storage_failures: int = Field(description="outages of the shared checkpoint store")
    link_utilization: dict[str, float] = Field(
        description="by tier (channel kind: nic, leaf, spine, ici, ...): the mean over its channels of the time "
        "they carried training traffic, over the simulated span, 0..1 (empty without training jobs)")
    hottest_links: list[LinkLoad] = Field(description="the most utilized channels over the simulated span")
    pools: dict[str, PoolReport] | None = Field(
        None, exclude_if=lambda value: value is None,
        description="by pool, for a cluster with pools: (absent otherwise): GPU time, utilization, energy and "
        "cost, summing to the cluster's")
    site_power: SitePowerReport | None = Field(
        None, exclude_if=lambda value: value is None,
        description="the site's power budget, caps and facility power drawn (absent without cluster.site_power)")


class StepBreakdown(Output):
    """One optimizer step on the critical path, seconds: its parts (all times but dp_comm_s) sum to step_time_s."""

    compute_s: float = Field(description="GEMMs and memory-bound operators of all micro-batches")
    tp_comm_s: float = Field(description="tensor-parallel collectives (not overlapped)")
    cp_comm_s: float = Field(description="context-parallel K/V ring exchange not hidden behind attention")
    ep_comm_s: float = Field(description="expert-parallel all-to-alls, dispatch and combine (not overlapped)")
    pp_bubble_s: float = Field(description="pipeline fill and drain, (pp-1) / virtual_stages micro-batch slots")
    pp_p2p_s: float = Field(description="activation and gradient sends between pipeline stages")
    dp_exposed_s: float = Field(description="part of the data-parallel gradient collective not hidden")
    optimizer_s: float = Field(description="Adam update, memory-bound")
    dp_comm_s: float = Field(description="whole data-parallel gradient collective, hidden or not (not summed)")
    tp_bottleneck: str = Field(description="busiest network channel of the tensor-parallel all-reduce")
    ep_bottleneck: str = Field(description="busiest network channel of the expert-parallel all-to-all")
    dp_bottleneck: str = Field(description="busiest network channel of the data-parallel gradient collective")

    @classmethod
    def of(cls, step: StepTime) -> StepBreakdown:
        """Every field of `step` but its FLOP counts (the training report gives those per run). A time added to
        StepTime and not declared here fails validation (extra fields are forbidden) rather than going missing."""
        return cls(**{f.name: getattr(step, f.name) for f in fields(step) if not f.name.endswith("_flops")})

    @property
    def parts_s(self) -> dict[str, float]:
        """The times on the critical path by name, in StepTime's order; they sum to step_time_s."""
        return {name: getattr(self, name) for name in StepTime.parts()}


class MemoryReport(Output):
    """Memory per GPU on the busiest pipeline stage, bytes."""

    weights_bytes: float = Field(description="bf16 weights after TP/PP (and ZeRO-3) sharding")
    gradients_bytes: float = Field(description="bf16 gradients (sharded from ZeRO-2)")
    optimizer_bytes: float = Field(description="fp32 master weights and Adam moments (sharded from ZeRO-1)")
    activations_bytes: float = Field(description="stored activations of the in-flight micro-batches")
    reserve_bytes: float = Field(description="framework / CUDA context / fragmentation reserve")
    total_bytes: float = Field(description="sum of the above")
    capacity_bytes: float = Field(description="accelerator memory")


class LossReport(Output):
    """Where a training job's failure and checkpoint overheads went, GPU-hours of its layout's GPUs."""

    redone_work_gpu_hours: float = Field(description="computed steps thrown away by failures")
    detection_gpu_hours: float = Field(description="failures not yet noticed")
    waiting_gpu_hours: float = Field(description="waiting for a repair with no healthy spare")
    restart_gpu_hours: float = Field(description="rescheduling and re-initialising")
    restore_gpu_hours: float = Field(description="loading the last checkpoint")
    checkpoint_gpu_hours: float = Field(description="checkpoint stalls (not counted in lost_gpu_hours)")
    slowdown_gpu_hours: float = Field(description="extra step time while fail-slow stragglers ran (not counted in "
                                      "lost_gpu_hours)")


class TrainingReport(Output):
    """One training workload."""

    kind: Literal["training"] = Field(description="workload kind")
    status: Literal["completed", "running", "queued"] = Field(
        description="completed; running = started but unfinished at the horizon; queued = never got its GPUs")
    model: str = Field(description="model name")
    accelerator: str = Field(description="accelerator name")
    gpus: int = Field(description="GPUs the job holds (tp x pp x dp)")
    held_gpus: int = Field(description="GPUs allocated to it while it holds any: its layout plus hot spare nodes")
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
    contention_factor: float = Field(
        description="step-time factor from other workloads' traffic on shared links, time-weighted over "
        "the time it held GPUs (1: it met none); the step figures above are without it")
    contention_max_factor: float = Field(description="the largest such factor it met")
    contention_links: list[str] = Field(description="the shared links that slowed it most when it was slowed most")
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
        description="TFLOP/s per GPU counting recomputation (the convention of Megatron-LM's Table 1)")
    memory_per_gpu_bytes: float = Field(description="memory needed per GPU on the busiest stage, bytes")
    memory: MemoryReport
    gpu_hours: float = Field(description="GPU-hours the job held its GPUs")
    energy_kwh: float = Field(description="facility energy of its GPUs while held (server overhead, PUE), kWh")
    carbon_tco2e: float | None = Field(description="energy_kwh at the grid's carbon intensity, tonnes CO2e (null: "
                                       "carbon intensity not set)")
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
        description="GPU-hours of redone work, detection, waiting for repairs, restart and restore")
    losses: LossReport
    ettr: float = Field(description="effective training time ratio: productive time / time holding its GPUs "
                        "since the start (waits in the queue after preemptions and requeues excluded: see "
                        "requeued_s), 0..1")


class RequestCounts(Output):
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


class LatencyReport(Output):
    """One latency over the requests that reached the point measured, seconds (null when none did)."""

    mean: float | None = Field(description="arithmetic mean, s")
    p50: float | None = Field(description="median, s")
    p90: float | None = Field(description="90th percentile, s")
    p99: float | None = Field(description="99th percentile, s")


class SloReport(Output):
    """The service-level objective the workload is judged against."""

    ttft_s: float = Field(description="time to first token, s")
    tpot_s: float = Field(description="time per output token after the first, s")


class InferenceReport(Output):
    """One inference (serving) workload."""

    kind: Literal["inference"] = Field(description="workload kind")
    status: Literal["completed", "running", "queued"] = Field(
        description="completed = every request completed or failed; running = requests left at the horizon; "
        "queued = never got its GPUs")
    model: str = Field(description="model name")
    accelerator: str = Field(description="accelerator name")
    gpus: int = Field(description="GPUs reserved: every replica the autoscaler may start, and the decode pool")
    replicas: int = Field(description="main-pool replicas at the start (prefill pool when disaggregated)")
    max_replicas: int = Field(description="main-pool replicas the autoscaler may reach (= replicas without it)")
    decode_replicas: int = Field(description="decode-pool replicas (0 without disaggregation)")
    contention_factor: float = Field(
        description="KV-transfer time factor from other workloads' traffic on the links between the pools, "
        "time-weighted over the time it held GPUs (1: none met, or no decode pool)")
    contention_max_factor: float = Field(description="the largest such factor its KV transfers met")
    contention_links: list[str] = Field(description="the shared links that slowed its KV transfers most")
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
    replica_busy_fraction: float = Field(description="time replicas spent running iterations / time provisioned, 0..1")
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
    carbon_tco2e: float | None = Field(description="energy_kwh at the grid's carbon intensity, tonnes CO2e (null: "
                                       "carbon intensity not set)")
    cost_usd: float = Field(description="gpu_hours x gpu_hour_usd + energy_kwh x electricity_usd_per_kwh")
    cost_breakdown: CostBreakdown
    usd_per_million_output_tokens: float | None = Field(
        description="cost_usd / output tokens of completed requests x 1e6 (null: none completed)"
    )
    usd_per_million_tokens: float | None = Field(
        description="cost_usd / (input + output tokens of completed requests) x 1e6 (null: none completed)"
    )


WorkloadReport = Annotated[TrainingReport | InferenceReport, Field(discriminator="kind")]


class BatchJobRow(Output):
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
    gpu_hours: float = Field(description="GPU-hours it held its GPUs, every attempt")
    placement_factor: float = Field(
        description="run-time factor of the GPUs of its latest attempt, alone on the network, over GPUs 0..n-1 "
        "(1: no network traffic, or as fast there)")
    contention_factor: float = Field(
        description="run-time factor from other workloads' traffic on shared links, time-weighted over the time it "
        "held GPUs (1: it met none)")
    contention_links: list[str] = Field(description="the shared links that slowed it most when it was slowed most")


class BatchJobsReport(Output):
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
    contention_factor: float = Field(
        description="the jobs' contention factors weighted by the GPU-time they held (1: none met any)")
    rows: list[BatchJobRow] = Field(description="every job, in submission order")


class TenantReport(Output):
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


class SpotReport(Output):
    """One spot pool's reclaims over the run (docs/fleets.md)."""

    nodes: int = Field(description="nodes of the pool")
    notice_s: float = Field(description="warning its holders got before a reclaimed node stopped, s")
    reclaims: int = Field(description="reclaim events that took at least one running node")
    nodes_reclaimed: int = Field(description="nodes taken (an event of a burst takes several)")
    notices_acted: int = Field(description="notices a holder prepared on: a training job saved a checkpoint "
                               "durable before the node went")
    reclaimed_gpu_hours: float = Field(description="GPU-hours the pool's reclaimed nodes were away during the run")
    lost_gpu_hours: float = Field(description="training steps rolled back to the last durable checkpoint at "
                                  "this pool's reclaims, GPU-hours of the jobs' GPUs")


class Report(Output):
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
    spot: dict[str, SpotReport] = Field(
        default_factory=dict, exclude_if=lambda value: not value, description="per spot pool, by pool name: "
        "reclaims and what they cost (absent without spot pools)")
    series: TimeSeries = Field(description="the run over time, for the HTML report's plots (empty in Monte Carlo "
                               "replicates)")
    _records: RunRecords | None = PrivateAttr(default=None)  # per request and per span: not in the JSON

    def __eq__(self, other: object) -> bool:
        """Reports are equal when their fields are (their records, never in the JSON, are not compared)."""
        return isinstance(other, Report) and self.__dict__ == other.__dict__

    def attach(self, records: RunRecords) -> Report:
        """This report, holding `records` (what the exports and the trace read; never in its JSON)."""
        self._records = records
        return self

    def to_frames(self) -> dict[str, Any]:
        """The report as pandas DataFrames (report/tables.py: workloads, cluster, jobs, series, and requests and
        events where `simulate()` made it); pandas is the optional extra `clustersim[frames]`."""
        return frames(self)

    @property
    def records(self) -> RunRecords | None:
        """The run's records where `simulate()` made this report (None when read back from JSON)."""
        return self._records
