"""Outputs of the analytic tools (simulator/tools/): network structure (`clustersim topology`), scaling-law plans,
reproductions of published runs, ranked layouts and lifetime cost. None of them runs the simulation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.report.output import Output


class BusBandwidthRow(Output):
    """One collective at one scope and message size."""

    op: str = Field(description="all_reduce, all_gather or all_to_all")
    scope: str = Field(description="8 GPUs, one unit (scalable unit / pod / group / cube) or cluster")
    gpus: int = Field(description="ranks in the collective (GPUs 0..gpus-1)")
    size_bytes: float = Field(description="per-rank buffer, bytes (NCCL-tests convention)")
    time_s: float = Field(description="duration, s")
    bus_bandwidth_gb_per_s: float = Field(description="NCCL-tests bus bandwidth, GB/s (1e9 bytes/s)")
    algorithm: str = Field(description="the fastest applicable algorithm (ring, tree, hierarchical, in_switch)")
    bottleneck: str = Field(description="the busiest channel, or the reduction engine")


class TopologyReport(Output):
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


class LawPlanRow(Output):
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
    mfu: float | None = Field(description="model FLOPs utilization assumed for the schedule, 0..1 (null: not planned)")
    mfu_gpus: int | None = Field(
        description="GPUs of the layout search the MFU was estimated on: a power of two of 8-GPU nodes near `gpus`, "
                    "at least fewest_gpus (null with --mfu or when not planned)"
    )
    fewest_gpus: int | None = Field(
        description="the fewest GPUs (a power of two of 8-GPU nodes) on which some layout of the model fits in "
                    "memory; `gpus` is at least this (null with --mfu, which skips the memory check)"
    )
    gpus: int | None = Field(description="GPUs: the fewest that finish within target_days and hold the model, or "
                                         "the GPUs given/bought (null: not planned)")
    days: float | None = Field(description="training time on `gpus` at `mfu` of the dense BF16 peak, days")
    gpu_hours: float | None = Field(description="flops / (peak_bf16 x mfu) / 3600, GPU-hours")
    cost_usd: float | None = Field(description="gpu_hours x gpu_hour_usd, USD (null without a price)")
    reason: str | None = Field(
        default=None, description="why this law could not be planned on the accelerator (null when it was); the "
                                  "other laws are planned regardless"
    )


class PlanReport(Output):
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


class ReproducedRun(Output):
    """One published training run next to the model's prediction; a layout the memory model says does not fit
    is refused (no prediction), as a scenario with it would be."""

    id: str = Field(description="case id in simulator/catalog/published_training.yaml")
    source: str = Field(description="where the published figure comes from")
    gpus: int = Field(description="GPUs of the run")
    layout: str = Field(description="TP/CP/PP/DP, schedule and recompute as published")
    metric: str = Field(description="hardware (counts recomputation, Megatron-LM) or model (MFU convention)")
    published_tflops_per_gpu: float = Field(description="published TFLOP/s per GPU")
    predicted_tflops_per_gpu: float | None = Field(
        description="the step model's TFLOP/s per GPU in the same convention; null when the layout does not fit")
    error: float | None = Field(description="predicted / published - 1; null when refused")
    memory_per_gpu_bytes: float = Field(description="the memory model's estimate for the busiest stage, bytes")
    fits: bool = Field(description="whether that estimate fits the GPU (published runs did)")
    held_out: bool = Field(description="not in the shared reference: a check on the model, reported apart")
    assumed: str = Field(description="setup the source does not state, chosen the same for all its rows")


class TimeEstimate(Output):
    """A published end-to-end time estimate recomputed from the model's FLOP count."""

    id: str = Field(description="case id")
    published_days: float = Field(description="the published estimate, days")
    computed_days: float = Field(description="model hardware FLOPs of the run / (GPUs x forced TFLOP/s), days")
    error: float = Field(description="computed / published - 1")


class _Reproduction(Output):
    """How far predictions land from published figures, over all cases."""

    median_abs_error: float = Field(description="median |error| over the runs")
    max_abs_error: float = Field(description="largest |error| over the runs")


class ScenarioFigure(Output):
    """A shipped scenario's workload against a figure its run published."""

    scenario: str = Field(description="scenario file, relative to the repository")
    workload: str = Field(description="training workload name")
    metric: str = Field(description="model_tflops_per_gpu, hardware_tflops_per_gpu, days or gpu_hours")
    published: float = Field(description="the published value")
    predicted: float = Field(description="the scenario's failure-free prediction of it")
    error: float = Field(description="predicted / published - 1")
    source: str = Field(description="where the value was published")


class ReproductionReport(_Reproduction):
    """`clustersim reproduce training`: predictions against every published case. The error summary covers
    the shared reference's runs; held-out runs have their own."""

    runs: list[ReproducedRun]
    held_out_median_abs_error: float | None = Field(description="median |error| over the held-out runs")
    held_out_max_abs_error: float | None = Field(description="largest |error| over the held-out runs")
    refused: list[str] = Field(description="runs whose published layout the memory model says does not fit")
    time_estimate: TimeEstimate
    scenarios: list[ScenarioFigure] = Field(description="shipped scenarios against the figures their runs published")


class ServingRun(Output):
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


class LayoutRow(Output):
    """One ranked layout."""

    rank: int = Field(description="1 = fastest")
    tp: int = Field(description="tensor-parallel degree")
    cp: int = Field(description="context-parallel degree")
    pp: int = Field(description="pipeline stages")
    schedule: str = Field(description="pipeline schedule: 1f1b, interleaved, zero_bubble or dualpipe")
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


class LayoutReport(Output):
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


class LifetimeRow(Output):
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


class LifetimeReport(Output):
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
    chinchilla_index: int = Field(description="row of the compute-optimal size (else the nearest one served)")
    notes: list[str] = Field(description="assumptions")
