"""Outputs of the experiments (simulator/experiments/): runs side by side (`clustersim compare`), Monte Carlo
replicates (`run --replicates`) and sweep rows (`clustersim sweep`)."""

from __future__ import annotations

from pydantic import Field

from simulator.report.model import Report
from simulator.report.output import Output


class ComparedRun(Output):
    """One column of a comparison."""

    label: str = Field(description="scenario file or variant (its --set/--vary values)")
    report: Report
    ratios: dict[str, float] = Field(description="headline figures divided by the baseline run's")


class Comparison(Output):
    """Several runs side by side (`clustersim compare`)."""

    runs: list[ComparedRun]
    baseline: str = Field(description="label of the run the ratios are taken against (--baseline; default: the "
                          "first)")

    def baseline_run(self) -> ComparedRun:
        """The run the ratios are taken against."""
        return next(run for run in self.runs if run.label == self.baseline)


class FigureStats(Output):
    """One numeric figure of the report over the replicates where it is a number."""

    n: int = Field(description="replicates in which the figure is a number (null elsewhere: such as finished_s "
                   "of a job that did not finish in some of them)")
    mean: float = Field(description="arithmetic mean")
    std: float = Field(description="sample standard deviation (divisor n - 1; 0 when n = 1)")
    ci95_low: float | None = Field(description="mean - t_{0.975, n-1} std / sqrt(n): Student-t 95 % confidence "
                                   "interval of the mean (null when n = 1)")
    ci95_high: float | None = Field(description="mean + t_{0.975, n-1} std / sqrt(n) (null when n = 1)")
    min: float = Field(description="smallest value")
    max: float = Field(description="largest value")


class ModeStats(Output):
    """A non-numeric figure (status, bottleneck, note) over the replicates: its most common value."""

    mode: str | bool = Field(description="most common value (ties: the one seen first, in replicate order)")
    count: int = Field(description="replicates with that value")
    distinct: int = Field(description="distinct values seen")


class ReplicatesReport(Output):
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


class SweepFigure(Output):
    """A figure at one grid point, over the replicates where it is a number."""

    mean: float = Field(description="mean over the replicates")
    ci95: float | None = Field(description="half-width of the Student-t 95 % confidence interval of the mean, "
                                           "t_{0.975, n-1} std / sqrt(n) (null for one replicate)")


class SweepRecord(Output):
    """What every sweep row holds: the grid point and the sweep that wrote it."""

    grid: dict[str, str] = Field(description="grid key -> value as given on the command line")
    grid_si: dict[str, float | None] = Field(
        default_factory=dict, description="grid key -> the value as the scenario validated it, in SI units (seconds, "
        "bytes/s, ...; null where it is not a number); keys whose values are all numbers")
    fingerprint: str = Field(description="of the sweep that wrote the row: its scenario, overrides, replicates, "
                                         "figures, row kind and clustersim version (a resumed sweep only keeps rows "
                                         "with its own)")
    scenario_sha256: str = Field(description="SHA-256 of the scenario file and every file it reads")
    overrides: list[str] = Field(description="the sweep's --set options")
    clustersim_version: str = Field(description="clustersim version that ran it")


class SweepRow(SweepRecord):
    """One grid point of `clustersim sweep`: its figures over the replicates."""

    replicates: int = Field(description="replicates run at this point")
    figures: dict[str, SweepFigure] = Field(description="the sweep's figures by dotted path (missing: never a number)")


class ReplicateRow(SweepRecord):
    """One replicate of one grid point (`clustersim sweep --per-replicate`)."""

    replicate: int = Field(description="replicate index i at its point (0-based)")
    seed: int = Field(description="its seed: SeedSequence(seed).spawn(replicates)[i].generate_state(1)[0]")
    figures: dict[str, float | None] = Field(description="the sweep's figures by dotted path (null: not a number)")


class CapacityMix(Output):
    """One capacity mix of `clustersim plan-capacity` over its replicates."""

    label: str = Field(description="the mix as given (its FIELD.PATH=VALUE overrides; 'as is' for none)")
    overrides: list[str] = Field(description="its overrides, one FIELD.PATH=VALUE each")
    replicates: int = Field(description="independent runs (seeds as in run --replicates)")
    met: int = Field(description="replicates in which every training workload finished by the deadline")
    probability: float = Field(description="met / replicates: the point estimate of P(deadline met)")
    wilson_low: float = Field(description="lower end of the Wilson score 95 % interval of that probability")
    wilson_high: float = Field(description="upper end of the Wilson score 95 % interval")
    meets: bool = Field(description="whether the chosen estimate (rule) of the probability reaches the target")
    cost_usd: FigureStats = Field(description="the cluster's cost (report cluster.cost_usd) over the replicates, "
                                  "each run stopped when its work finished or at the deadline, whichever came first")
    finished_s: FigureStats | None = Field(description="when the last training workload finished, s, over the "
                                           "replicates that met the deadline (null: none did)")


class CapacityPlan(Output):
    """`clustersim plan-capacity`: the cheapest capacity mix that meets a deadline with a given probability."""

    scenario: str = Field(description="scenario name")
    deadline_s: float = Field(description="every training workload must finish by this simulated time, s")
    probability: float = Field(description="the probability of meeting it that is asked for, 0..1")
    rule: str = Field(description="which estimate must reach the probability: wilson_low (the lower end of the "
                      "Wilson 95 % interval: conservative) or point (met / replicates)")
    best_reachable: float = Field(description="the highest wilson_low these replicates can give (all met): "
                                  "n / (n + 1.96^2); below the probability asked, rule wilson_low passes no mix")
    mixes: list[CapacityMix]
    cheapest: str | None = Field(description="label of the cheapest mix (lowest mean cost) that meets the "
                                 "probability; null: none does")
    method: str = Field(description="how the figures were computed")
    wall_s: float = Field(description="real time of all the runs, s")
