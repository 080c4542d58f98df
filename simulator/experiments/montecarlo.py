"""Monte Carlo replicates: run one scenario under N independent seeds and summarise every figure of the report.

Seeds. Replicate i of N runs the scenario with its `seed` replaced by
`numpy.random.SeedSequence(scenario.seed).spawn(N)[i].generate_state(1)[0]` (a 32-bit integer): children of
one SeedSequence are independent streams, and the same root seed and N give the same seeds on every machine
(child i does not depend on N: the seeds of N = 10 are the first ten of N = 100).

Figures. Every report is dumped to JSON and walked: each int or float leaf (booleans excepted) is a figure
keyed by its dotted path (`workloads.pretrain.ettr`, list items by index: `notes.0`), except leaves named
`wall_s` (real time) and `seed` (differs by construction). For each figure: mean, sample standard deviation
(divisor n - 1, 0 for one replicate), min, max, and the 95 % confidence interval of the mean by Student's t,
mean +- t_{0.975, n-1} sd / sqrt(n) (student_t.py; t_{0.975, 7} = 2.365 for 8 replicates, 1.960 as n grows;
none for one replicate). A leaf that is null in some replicates (such as `finished_s` of a
job that did not finish) or missing from some (a cause in `interruptions_by_cause` that never happened) is
summarised over the replicates where it is a number (`n` says how many); one that is never a number is left
out. String and boolean leaves (`status`, bottlenecks, notes) are
reported as their most common value (`modes`).

Running. `run_batches` runs several (scenario, N) batches -- one for `run --replicates`, one per grid point
for `sweep` -- and hands each batch's reports, in seed order, to a summary (`aggregate` for `run --replicates`;
the sweep's own rows) on a local process pool, passing the validated Scenario (pickled) and chunks of seeds to the
workers; with one worker everything runs in this process. Results are put back in seed order, so the pool
and in-process paths give identical reports.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import numpy as np

from simulator import __version__
from simulator.experiments.student_t import ci95_half_width
from simulator.report.experiments import FigureStats, ModeStats, ReplicatesReport
from simulator.report.figures import headline_paths
from simulator.run import simulate
from simulator.scenario.schema import Scenario

# series: plots of one run, not figures; rows: one run's batch jobs (a generated stream's differ between seeds)
EXCLUDED_LEAVES = frozenset({"wall_s", "seed", "series", "rows"})
METHOD = (
    "replicate i of N uses seed numpy.random.SeedSequence(seed).spawn(N)[i].generate_state(1)[0]; figures are "
    "every int/float leaf of the report JSON except wall_s, seed, time series and per-job rows, summarised over "
    "the replicates where they are numbers; std is the sample standard deviation (n - 1); the 95 % confidence "
    "interval of the mean is Student's t, mean +- t_{0.975, n-1} std / sqrt(n) (null for one replicate); strings "
    "and booleans report their most common value"
)

ReportData = Mapping[str, Any]  # a report as JSON data (Report.model_dump(mode="json"))
Progress = Callable[[int], None]  # called with the number of replicates just finished


def replicate_seeds(root: int, n: int) -> list[int]:
    """The seeds of replicates 0..n-1: SeedSequence(root).spawn(n)[i].generate_state(1)[0]."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(root).spawn(n)]


def leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every scalar leaf of JSON data, in document order; skips excluded names."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key not in EXCLUDED_LEAVES:
                yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            yield from leaves(value, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarize(values: Sequence[float]) -> FigureStats:
    """Mean, sample std, Student-t 95 % CI of the mean (None for one value), min and max of at least one value.

    The mean is taken as first + mean(deviations from the first), so identical values give exactly that
    value and a standard deviation of exactly 0."""
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    if n == 0:
        raise ValueError("summarize needs at least one value")
    mean = float(data[0] + np.mean(data - data[0]))
    std = float(np.sqrt(np.sum((data - mean) ** 2) / (n - 1))) if n > 1 else 0.0
    half = ci95_half_width(std, n)
    return FigureStats(n=n, mean=mean, std=std, ci95_low=None if half is None else mean - half,
                       ci95_high=None if half is None else mean + half,
                       min=float(np.min(data)), max=float(np.max(data)))


def _mode(values: Sequence[str | bool]) -> ModeStats:
    counts = Counter(values)
    best = max(counts.values())
    mode = next(v for v in values if counts[v] == best)  # ties: first seen
    return ModeStats(mode=mode, count=best, distinct=len(counts))


def aggregate(reports: Sequence[ReportData], seeds: Sequence[int], root_seed: int = 0) -> ReplicatesReport:
    """Summarise replicate reports (JSON data, in seed order) into a ReplicatesReport; the scenario name is
    the first report's, wall_s the sum of the reports' own."""
    if not reports or len(reports) != len(seeds):
        raise ValueError(f"aggregate needs one report per seed, got {len(reports)} reports and {len(seeds)} seeds")
    numbers: dict[str, list[float]] = {}
    labels: dict[str, list[str | bool]] = {}
    for report in reports:
        for path, value in leaves(report):
            if _is_number(value):
                numbers.setdefault(path, []).append(float(value))
            elif isinstance(value, str | bool) and path not in {"scenario", "clustersim_version"}:
                labels.setdefault(path, []).append(value)
    workloads = {name: str(w.get("kind")) for r in reports for name, w in r.get("workloads", {}).items()}
    return ReplicatesReport(
        scenario=str(reports[0].get("scenario", "")),
        seed=root_seed,
        clustersim_version=__version__,
        replicates=len(reports),
        seeds=list(seeds),
        method=METHOD,
        workloads=list(workloads),
        headline=headline_paths(workloads, jobs=any(r.get("jobs") for r in reports)),
        figures={path: summarize(values) for path, values in numbers.items()},
        modes={path: _mode(values) for path, values in labels.items()},
        wall_s=sum(float(r.get("wall_s", 0.0)) for r in reports),
    )


def simulate_seeds(scenario: Scenario, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Run `scenario` once per seed; each report as JSON data. The pool's task (top-level, picklable)."""
    return [simulate(scenario.model_copy(update={"seed": seed}), series=False).model_dump(mode="json")
            for seed in seeds]


def default_workers() -> int:
    """All cores."""
    return os.cpu_count() or 1


def _pool_context() -> Any:
    """forkserver where the platform has it (no fork of a process with a progress-bar thread), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


Plans = list[tuple[Scenario, list[int]]]
Finished = Iterator[tuple[int, int, list[dict[str, Any]]]]  # (batch, offset of the chunk, its reports)
RemoteRunner = Callable[[Plans, int], Finished]  # runs chunks of seeds elsewhere (Ray), yields them as done
T = TypeVar("T")
Summary = Callable[[Sequence[ReportData], Sequence[int], int], T]  # (reports, seeds, root seed) -> a batch's result


def run_batches(
    batches: Sequence[tuple[Scenario, int]], summary: Summary[T], workers: int | None = None,
    progress: Progress | None = None, remote: RemoteRunner | None = None,
) -> Iterator[tuple[int, T]]:
    """For each (scenario, replicates) batch, in order as each completes: (batch index, `summary(reports, seeds,
    root seed)` of its replicate reports in seed order; `aggregate` gives its ReplicatesReport).

    Replicate seeds come from each scenario's own seed (replicate_seeds). `workers` processes (default all
    cores; 1: in this process, no pool) share all batches' replicates, or `remote(plans, chunk)` runs the
    chunks (simulator/experiments/distributed.py: Ray); `progress(k)` is called as k more replicates finish."""
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    plans = [(scenario, replicate_seeds(scenario.seed, n)) for scenario, n in batches]
    total = sum(len(seeds) for _, seeds in plans)
    if remote is not None:
        yield from _collect(plans, remote(plans, max(1, math.ceil(total / (4 * workers)))), progress, summary)
        return
    if workers == 1 or total <= 1:
        for index, (scenario, seeds) in enumerate(plans):
            reports = []
            for seed in seeds:
                reports += simulate_seeds(scenario, [seed])
                if progress:
                    progress(1)
            yield index, summary(reports, seeds, scenario.seed)
        return
    yield from _run_pool(plans, min(workers, total), progress, summary)


def _run_pool(plans: Plans, workers: int, progress: Progress | None, summary: Summary[T]) -> Iterator[tuple[int, T]]:
    """The pool path of run_batches: chunks of seeds as tasks on local processes."""
    total = sum(len(seeds) for _, seeds in plans)
    chunk = max(1, math.ceil(total / (4 * workers)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
        tasks: dict[Future[list[dict[str, Any]]], tuple[int, int]] = {}
        for index, (scenario, seeds) in enumerate(plans):
            for offset in range(0, len(seeds), chunk):
                tasks[pool.submit(simulate_seeds, scenario, seeds[offset:offset + chunk])] = (index, offset)
        finished = ((*tasks[future], future.result()) for future in as_completed(tasks))
        try:
            yield from _collect(plans, finished, progress, summary)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _collect(plans: Plans, finished: Finished, progress: Progress | None,
             summary: Summary[T]) -> Iterator[tuple[int, T]]:
    """Put chunks of reports back in seed order as they finish (anywhere), and yield each batch's summary in
    order as soon as it and all before it are complete."""
    results: list[list[dict[str, Any]]] = [[{} for _ in seeds] for _, seeds in plans]
    missing = [len(seeds) for _, seeds in plans]
    following = 0
    for index, offset, reports in finished:
        results[index][offset:offset + len(reports)] = reports
        missing[index] -= len(reports)
        if progress:
            progress(len(reports))
        while following < len(plans) and missing[following] == 0:
            scenario, seeds = plans[following]
            yield following, summary(results[following], seeds, scenario.seed)
            results[following] = []
            following += 1


def run_replicates(
    scenario: Scenario, replicates: int, workers: int | None = None, progress: Progress | None = None
) -> ReplicatesReport:
    """Run `scenario` under `replicates` independent seeds and summarise every figure (see the module doc)."""
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    ((_, report),) = run_batches([(scenario, replicates)], aggregate, workers, progress)
    return report
