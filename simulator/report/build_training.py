"""The report of a training job: progress, step time and its parts, MFU, memory, reliability (interruptions,
checkpoints, losses, ETTR), energy and cost."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.engine.fabric import Contention
from simulator.engine.training import TrainingJob
from simulator.models.workload.memory import training_memory
from simulator.models.workload.step_time import StepTime
from simulator.models.workload.transformer import parameter_counts
from simulator.plan.economy import Economy
from simulator.plan.training import TrainingPlan, cause_labels
from simulator.report.costs import breakdown, paid_at
from simulator.report.model import LossReport, MemoryReport, StepBreakdown, TrainingReport
from simulator.scenario.schema import Scenario, TrainingWorkload
from simulator.units import SECONDS_PER_HOUR


@dataclass(frozen=True)
class TrainingRun:
    """A training workload in a run: what was asked, its plan and step time, and the job that ran it."""

    workload: TrainingWorkload
    plan: TrainingPlan
    step: StepTime
    job: TrainingJob
    contention: Contention | None = None  # what it met on links shared with other jobs


def lost_s(job: TrainingJob) -> float:
    """Wall-clock seconds a job lost to failures (redone work, detection, waiting, restart, restore)."""
    lost = job.losses
    return lost.redone_s + lost.detection_s + lost.waiting_s + lost.restart_s + lost.restore_s


def training_report(run: TrainingRun, now: float, scenario: Scenario, economy: Economy) -> TrainingReport:
    """The job's figures: progress, step time and its parts, MFU, memory, reliability, energy and cost."""
    job, plan, w = run.job, run.plan, run.workload
    contention = run.contention or Contention()
    step = job.placed_step or run.step  # as priced on the GPUs it was given (its latest allocation)
    shares = job.shares.gpus if job.shares is not None else [1.0]  # its pools' peaks, weighted by its GPUs in each
    peak = sum(share * (pool.accelerator.peak_flops(w.precision) or 0.0)
               for share, pool in zip(shares, scenario.cluster.pool_specs, strict=True) if share)
    counts = parameter_counts(w.model)
    memory = training_memory(plan.step, w.memory_reserve_bytes)
    end = job.finished_s if job.finished_s is not None else now
    held_s = job.holding_s(end)
    productive_s = job.productive_s
    held_gpu_s = held_s * job.held_gpus
    idle_gpu_s = held_gpu_s - job.busy_s * job.gpus - job.down_gpu_s  # GPUs on a failed node are off, not idle
    prices = economy.prices
    it_energy_j = (job.busy_s * job.gpus * job.power_w + idle_gpu_s * economy.power.idle_w
                   + job.down_gpu_s * economy.power.down_w)
    kwh = prices.facility_kwh(it_energy_j)
    paid_gpu_s = held_gpu_s - job.unpaid_gpu_s  # spot capacity taken back is not paid for
    cost = prices.cost_usd(paid_gpu_s, kwh)
    tokens = job.steps_done * plan.step.tokens_per_step
    lost = job.losses

    def gpu_h(seconds: float) -> float:
        return seconds * job.gpus / SECONDS_PER_HOUR

    per_gpu_model = step.model_flops / step.total_s / job.gpus
    per_gpu_hardware = step.hardware_flops / step.total_s / job.gpus
    return TrainingReport(
        kind="training",
        status=job.status,
        model=w.model.name,
        accelerator=" + ".join(dict.fromkeys(pool.accelerator.name for share, pool in
                                             zip(shares, scenario.cluster.pool_specs, strict=True) if share)),
        gpus=job.gpus,
        held_gpus=job.held_gpus,
        parameters=counts.total,
        active_parameters=counts.active,
        submitted_s=job.submitted_s,
        started_s=job.started_s,
        finished_s=job.finished_s,
        queued_s=max(0.0, (job.started_s if job.started_s is not None else now) - job.submitted_s),
        wall_clock_s=max(0.0, end - job.submitted_s),
        steps=job.steps_done,
        steps_total=job.steps_total,
        steps_remaining=job.steps_total - job.steps_done,
        step_time_s=step.total_s,
        step_breakdown=StepBreakdown.of(step),
        contention_factor=contention.mean_factor(), contention_max_factor=contention.max_factor,
        contention_links=contention.links,
        tokens_per_step=plan.step.tokens_per_step,
        micro_batches=plan.step.micro_batches,
        tokens=tokens,
        tokens_target=w.tokens,
        tokens_per_s=plan.step.tokens_per_step / step.total_s,
        model_flops=step.model_flops * job.steps_done,
        mfu=per_gpu_model / peak,
        hfu=per_gpu_hardware / peak,
        achieved_tflops_per_gpu=per_gpu_model / 1e12,
        hardware_tflops_per_gpu=per_gpu_hardware / 1e12,
        memory_per_gpu_bytes=memory.total_bytes,
        memory=MemoryReport(
            weights_bytes=memory.weights_bytes, gradients_bytes=memory.gradients_bytes,
            optimizer_bytes=memory.optimizer_bytes, activations_bytes=memory.activations_bytes,
            reserve_bytes=memory.reserve_bytes, total_bytes=memory.total_bytes,
            capacity_bytes=memory.capacity_bytes,
        ),
        gpu_hours=held_gpu_s / SECONDS_PER_HOUR,
        energy_kwh=kwh,
        carbon_tco2e=prices.tco2e(kwh),
        cost_usd=cost,
        cost_breakdown=breakdown(economy if not job.unpaid_gpu_s else paid_at(economy, paid_gpu_s / held_gpu_s),
                                 held_gpu_s, productive_s * job.gpus, lost.checkpoint_s * job.gpus,
                                 lost_s(job) * job.gpus, kwh),
        cost_per_million_tokens_usd=cost / tokens * 1e6 if tokens else 0.0,
        interruptions=job.interruptions,
        preemptions=job.preemptions,
        requeues=job.requeues,
        requeued_s=job.requeued_s,
        interruptions_by_cause={cause: job.causes.get(cause, 0) for cause in cause_labels(scenario)},
        checkpoints=job.checkpoints,
        checkpoints_skipped=job.checkpoints_skipped,
        checkpoint_interval_s=job.recovery.interval_steps * step.total_s or None,
        lost_gpu_hours=gpu_h(lost_s(job)),
        losses=LossReport(
            redone_work_gpu_hours=gpu_h(lost.redone_s), detection_gpu_hours=gpu_h(lost.detection_s),
            waiting_gpu_hours=gpu_h(lost.waiting_s), restart_gpu_hours=gpu_h(lost.restart_s),
            restore_gpu_hours=gpu_h(lost.restore_s), checkpoint_gpu_hours=gpu_h(lost.checkpoint_s),
            slowdown_gpu_hours=gpu_h(lost.slowdown_s),
        ),
        ettr=min(1.0, productive_s / held_s) if held_s else 0.0,
    )


