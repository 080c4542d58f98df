"""Run times of batch jobs given as tokens to train: the tokens over the throughput of the fastest layout of
the job's model on its GPUs, from the layout search of `clustersim plan-layout` (BF16, full-model step
time on the cluster's network), computed once per model, size and batch shape. Checked when a scenario is
validated, so that a row that cannot be priced is a located error."""

from __future__ import annotations

import functools
import math

from simulator import catalog
from simulator.catalog import UnknownEntry
from simulator.models.hardware import Precision
from simulator.models.workload import arrivals as arr
from simulator.models.workload.layout_search import RankedLayout, best_layouts
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import TransformerModel
from simulator.plan.network import cached_network
from simulator.scenario.jobs import TraceJobs
from simulator.scenario.schema import ClusterSpec

RESERVE_BYTES = 2 * 2**30  # framework reserve per GPU, as the planners assume


@functools.lru_cache(maxsize=4096)
def fastest_layout(model: TransformerModel, cluster: ClusterSpec, gpus: int, seq_len: int,
                   batch_tokens: float) -> RankedLayout | None:
    """The fastest layout of `model` on `gpus` of the cluster's GPUs (ranks on GPUs 0..n-1), or None when no layout
    fits in memory. The batch is rounded up to a whole number of sequences per GPU (every layout's data
    parallelism divides it; larger micro-batches are tried where they divide it too)."""
    sequences = max(1, math.ceil(batch_tokens / seq_len / gpus)) * gpus
    base = TrainingStep(model, cluster.accelerator, Precision.BF16, Parallelism(), seq_len, sequences)
    ranked = best_layouts(base, cached_network(cluster), gpus, RESERVE_BYTES, top=1)
    return ranked[0] if ranked else None


def trace_runs(source: TraceJobs, trace: arr.JobTrace, cluster: ClusterSpec) -> list[tuple[float, RankedLayout | None]]:
    """Each job's run time, and the layout it trains with where it gives tokens: its own run time, or its tokens
    over the training throughput of its model's fastest layout on its GPUs. TraceError naming the line of a row
    whose model is unknown, missing, or fits on no layout of its GPUs."""
    runs: list[tuple[float, RankedLayout | None]] = []
    for i, line in enumerate(trace.lines):
        if not math.isnan(trace.duration_s[i]):
            runs.append((float(trace.duration_s[i]), None))
            continue
        where = f"{source.path}, line {line}"
        name = trace.models[i]
        try:
            model = catalog.model(name) if name is not None else source.model
        except UnknownEntry as error:
            raise arr.TraceError(f"{where}, column {source.model_column!r}: {error}") from None
        if model is None:
            raise arr.TraceError(f"{where}: a row that gives tokens needs a model (column {source.model_column!r}, "
                                 f"or the trace's model)")
        gpus = int(trace.gpus[i])
        layout = fastest_layout(model, cluster, gpus, source.seq_len, source.global_batch_tokens)
        if layout is None:
            raise arr.TraceError(f"{where}: {model.name} fits no layout of {gpus} {cluster.accelerator.name} GPUs")
        runs.append((float(trace.tokens[i]) / layout.tokens_per_s, layout))
    return runs
