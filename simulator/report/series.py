"""The run over time, as the report holds it for plots, the exports and the trace: cluster-wide and per-workload
series at the run's sample times, training workloads' failures and checkpoints, and latency quantiles."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.report.output import Output


class TimelineEvent(Output):
    """A failure or checkpoint of a training workload."""

    time_s: float = Field(description="simulated time, s")
    kind: Literal["failure", "checkpoint"] = Field(description="what happened")
    cause: str = Field(description="failure cause (empty for checkpoints)")
    duration_s: float = Field(description="failure: from time_s until the job computed again (or the end), s; "
                              "checkpoint: the stall that ended at time_s, s")
    gpus: int = Field(description="GPUs it stopped: the job's")


class WorkloadSeries(Output):
    """One workload over time, at the run's sample times."""

    progress: list[float] = Field(description="training: fraction of steps done; inference: fraction of requests "
                                  "completed or failed")
    queued: list[float] = Field(description="inference: requests waiting for a replica (empty for training)")
    running: list[float] = Field(description="inference: requests in a batch or moving (empty for training)")
    replicas_up: list[float] = Field(description="inference: replicas taking requests (empty for training)")
    kv_cache_use: list[float] = Field(description="inference: KV-cache blocks held / blocks of the replicas up, "
                                      "0..1 (empty for training)")
    busy_fraction: list[float] = Field(description="inference: replica time iterating / replica time provisioned "
                                       "since the previous sample, 0..1 (0 at the first; empty for training)")
    ttft_p50_s: list[float | None] = Field(description="inference: median TTFT of the requests whose first token "
                                           "came since the previous sample, s (null: none; empty for training)")
    ttft_p99_s: list[float | None] = Field(description="inference: their 99th-percentile TTFT, s")
    e2e_p50_s: list[float | None] = Field(description="inference: median end-to-end latency of the requests "
                                          "completed since the previous sample, s (null: none; empty for training)")
    e2e_p99_s: list[float | None] = Field(description="inference: their 99th-percentile end-to-end latency, s")
    events: list[TimelineEvent] = Field(description="training: failures and checkpoints, in time order (at most "
                                        "1,000 of each, spread over the run)")


class LatencyCdf(Output):
    """Latency quantiles of an inference workload's requests (null where no request has the latency)."""

    probabilities: list[float] = Field(description="0, 0.01, ..., 1")
    ttft_s: list[float | None] = Field(description="time to first token at each probability, s")
    tpot_s: list[float | None] = Field(description="time per output token at each probability, s")
    e2e_s: list[float | None] = Field(description="end-to-end latency at each probability, s")


class TimeSeries(Output):
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
    link_time_s: list[float] = Field(description="times the training traffic on the network changed, s")
    link_load: dict[str, list[float]] = Field(
        description="per network tier, the mean utilization of its channels by training traffic from each of "
        "link_time_s on (a step function)")
    it_power_w: list[float] | None = Field(
        None, exclude_if=lambda value: value is None,
        description="IT power at each sample: GPUs with their server share by state (computing at their workload's "
        "power, idle, down) plus the network, W (absent without cluster.site_power)")
    facility_power_w: list[float] | None = Field(
        None, exclude_if=lambda value: value is None,
        description="it_power_w x pricing.pue: power at the meter, W (absent without cluster.site_power)")
