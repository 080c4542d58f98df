"""Reproduce published training runs with the step model (`clustersim reproduce training`).

Each case of simulator/catalog/published_training.yaml is rebuilt from its published setup (model, GPUs,
layout, schedule, network) and priced by the same pure models a scenario uses. A layout the memory model
says does not fit is refused, as a scenario with it would be: the published runs evidently fitted, so a
refusal is a memory-model error to fix, shown rather than hidden.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import yaml

from simulator import catalog
from simulator.models.hardware import AttentionKernel, Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology, SingleSwitchTopology
from simulator.models.workload.memory import training_memory
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.pipeline import Schedule
from simulator.models.workload.serving_time import ServingConfig, offline_throughput
from simulator.models.workload.step_time import OperatorStepModel, recompute_flops_per_token
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import forward_flops_per_token
from simulator.plan.load import load_scenario
from simulator.plan.training import priced_step
from simulator.report.tools import (
    ReproducedRun,
    ReproductionReport,
    ScenarioFigure,
    ServingReproductionReport,
    ServingRun,
    TimeEstimate,
)
from simulator.scenario.schema import TrainingWorkload
from simulator.units import Dimension, parse_quantity

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = catalog.CATALOG_DIR / "published_training.yaml"
PUBLISHED_SERVING = catalog.CATALOG_DIR / "published_serving.yaml"
GPUS_PER_NODE = 8
RESERVE_BYTES = 2 * 2**30


def _step(case: dict[str, Any]) -> TrainingStep:
    layout = Parallelism(**case["parallelism"], **case["layout"])
    micro_batches = case["global_batch"] // (layout.dp * layout.micro_batch_size)
    return TrainingStep(
        model=catalog.model(case["model"]), accelerator=catalog.accelerator(case["accelerator"]),
        precision=Precision.BF16, layout=layout, seq_len=case["seq_len"], micro_batches=micro_batches,
        flash_attention=case["flash_attention"],
        attention_kernel=AttentionKernel(case.get("attention_kernel", AttentionKernel.FLASH2)),
    )


def reproduce_run(case: dict[str, Any], sources: dict[str, str]) -> ReproducedRun:
    """Predict one published case."""
    step = _step(case)
    acc = step.accelerator
    nic = parse_quantity(case["nic_bandwidth"], Dimension.BANDWIDTH)
    shape = ClusterShape(case["gpus"] // GPUS_PER_NODE, GPUS_PER_NODE, acc.scale_up_bandwidth_bytes_per_s or 0.0,
                         nic, acc.in_switch_reduction)
    network = build_network(FatTreeTopology(kind="fat_tree", tiers=3, radix=64, rail_optimized=True), shape)
    memory = training_memory(step, RESERVE_BYTES)
    fits = memory.headroom_bytes >= 0
    predicted = error = None
    if fits:
        timed = OperatorStepModel().step_time(step, network)
        flops = timed.hardware_flops if case["metric"] == "hardware" else timed.model_flops
        predicted = flops / timed.total_s / case["gpus"] / 1e12
        error = predicted / case["published_tflops_per_gpu"] - 1
    return ReproducedRun(
        id=case["id"], source=sources[case["source"]], gpus=case["gpus"], layout=describe_layout(step.layout),
        metric=case["metric"], published_tflops_per_gpu=case["published_tflops_per_gpu"],
        predicted_tflops_per_gpu=predicted, error=error, memory_per_gpu_bytes=memory.total_bytes, fits=fits,
        held_out=case.get("held_out", False), assumed=case.get("assumed", ""),
    )


def describe_layout(lay: Parallelism) -> str:
    """TP/CP/PP/DP, then the schedule and recompute where they are not the defaults."""
    degrees = "/".join(f"{name.upper()}{value}" for name, value in lay.degrees.items() if name != "cp" or value > 1)
    schedule = {Schedule.ONE_F_ONE_B: "", Schedule.INTERLEAVED: f", interleaved x{lay.virtual_stages}"}.get(
        lay.schedule, f", {lay.schedule.value}")
    mode = lay.activation_recompute
    recompute = {Recompute.SELECTIVE: "", Recompute.NONE: ", no recompute"}.get(mode, f", {mode.value} recompute")
    return degrees + schedule + recompute


def time_estimate(case: dict[str, Any]) -> TimeEstimate:
    """Days to train `tokens` at a forced throughput, from the model's hardware FLOPs (full recompute)."""
    model = catalog.model(case["model"])
    step = TrainingStep(model, catalog.accelerator("a100-80gb-sxm"), Precision.BF16,
                        Parallelism(activation_recompute=Recompute.FULL), model.max_seq_len, 1)
    per_token = 3.0 * forward_flops_per_token(model, model.max_seq_len) + recompute_flops_per_token(step)
    tokens = parse_quantity(case["tokens"], Dimension.COUNT)
    days = tokens * per_token / (case["gpus"] * case["forced_tflops_per_gpu"] * 1e12) / 86400
    return TimeEstimate(id=case["id"], published_days=case["published_days"], computed_days=days,
                        error=days / case["published_days"] - 1)


def _errors(runs: list[ReproducedRun]) -> tuple[float | None, float | None]:
    """(median, max) |error| over the runs that were predicted."""
    errors = [abs(run.error) for run in runs if run.error is not None]
    return (statistics.median(errors), max(errors)) if errors else (None, None)


def scenario_figures(paths: list[Path]) -> list[ScenarioFigure]:
    """Every published figure of the training workloads of the scenario files `paths`, predicted failure-free on
    the scenario's own cluster network."""
    rows = []
    for path in paths:
        scenario = load_scenario(path)
        for workload in scenario.workloads:
            if not isinstance(workload, TrainingWorkload) or not workload.published:
                continue
            plan, timed = priced_step(workload, scenario.cluster)
            world = plan.step.layout.world
            days = plan.steps * timed.total_s / 86400
            predicted = {
                "model_tflops_per_gpu": timed.model_flops / timed.total_s / world / 1e12,
                "hardware_tflops_per_gpu": timed.hardware_flops / timed.total_s / world / 1e12,
                "days": days, "gpu_hours": days * 24 * world,
            }
            rows += [ScenarioFigure(scenario=_relative(path), workload=workload.name, metric=figure.metric,
                                    published=figure.value, predicted=predicted[figure.metric],
                                    error=predicted[figure.metric] / figure.value - 1, source=figure.source)
                     for figure in workload.published]
    return rows


def _relative(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def shipped_scenarios() -> list[Path]:
    """The repository's scenario files that name published figures (`published:`), in a stable order."""
    return sorted(path for path in (ROOT / "scenarios").rglob("*.yaml")
                  if "published:" in path.read_text(encoding="utf-8"))


def reproduce_training(path: Path = PUBLISHED) -> ReproductionReport:
    """Every published case of `path`, predicted, and the shipped scenarios' published figures."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    runs = [reproduce_run(case, data["sources"]) for case in data["cases"]]
    median, worst = _errors([run for run in runs if not run.held_out])
    held_median, held_worst = _errors([run for run in runs if run.held_out])
    return ReproductionReport(runs=runs, median_abs_error=median or 0.0, max_abs_error=worst or 0.0,
                              held_out_median_abs_error=held_median, held_out_max_abs_error=held_worst,
                              refused=[run.id for run in runs if not run.fits],
                              time_estimate=time_estimate(data["time_estimate"]),
                              scenarios=scenario_figures(shipped_scenarios()))


def reproduce_serving(path: Path = PUBLISHED_SERVING) -> ServingReproductionReport:
    """Every published offline-throughput case, predicted by the serving iteration model."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    setup = data["setup"]
    runs = []
    for case in data["cases"]:
        acc = catalog.accelerator(case["accelerator"])
        cfg = ServingConfig(
            model=catalog.model(case["model"]), accelerator=acc, precision=Precision(case["precision"]),
            kv_bytes=float(setup["kv_bytes"]), tp=case["tp"], kv_memory_fraction=setup["kv_memory_fraction"],
            workspace_bytes=parse_quantity(setup["workspace"], Dimension.BYTES), max_batch=setup["max_batch"],
            max_num_tokens=setup["max_num_tokens"], overhead_s=parse_quantity(setup["overhead"], Dimension.DURATION),
        )
        shape = ClusterShape(1, max(1, case["tp"]), acc.scale_up_bandwidth_bytes_per_s or 0.0, 50e9,
                             acc.in_switch_reduction)
        network = build_network(SingleSwitchTopology(kind="single_switch"), shape)
        steady = offline_throughput(cfg, network, case["isl"], case["osl"])
        predicted = steady.output_tokens_per_s
        runs.append(ServingRun(
            id=case["id"], input_tokens=case["isl"], output_tokens=case["osl"],
            published_tokens_per_s=case["output_tokens_per_s"], predicted_tokens_per_s=predicted,
            error=predicted / case["output_tokens_per_s"] - 1, concurrency=steady.concurrency,
            limited_by=steady.limited_by, iteration_s=steady.iteration.total_s,
        ))
    errors = [abs(r.error) for r in runs]
    return ServingReproductionReport(runs=runs, median_abs_error=statistics.median(errors), max_abs_error=max(errors),
                                     assumptions={k: str(v) for k, v in setup.items()})
