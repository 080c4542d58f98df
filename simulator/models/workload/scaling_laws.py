"""Compute-optimal model size and data: how many parameters N and tokens D a FLOP budget C should buy.

Every law here has the form N_opt = G * (C / c0)^a with training compute C = 6 N D (forward plus backward,
2 + 4 FLOPs per parameter per token), so D_opt = C / (6 N_opt); inverting gives the compute (and tokens)
that make a given N optimal. The laws:

- Chinchilla approach 1 (Hoffmann et al. 2022, arXiv 2203.15556, Table 3): fitted here to Table 3's rows.
- Chinchilla approach 3: the paper's parametric loss L(N, D) = E + A/N^alpha + B/D^beta minimised
  analytically under C = 6 N D.
- About 20 tokens per parameter (D = 20 N), the rule of thumb drawn from Chinchilla.
- Kaplan et al. 2020 (arXiv 2001.08361): N_opt = 1.3e9 * (C_min / PF-day)^0.73.

Pure arithmetic: no SimPy, YAML or CLI.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6 N D: 2 FLOPs per multiply-add forward, twice that backward (Kaplan 2020 sec. 2.1)
GOPHER_FLOPS = 5.76e23  # Gopher's training budget, 1 "Gopher unit" in Hoffmann et al. 2022 Table 3
PF_DAY_FLOPS = 1e15 * 86400.0  # 1 PF-day = 8.64e19 FLOPs, Kaplan 2020's compute unit

# Hoffmann et al. 2022, section 3.3 / appendix D.2: fitted parametric loss (nats/token).
CHINCHILLA_E = 1.69
CHINCHILLA_A = 406.4
CHINCHILLA_B = 410.7
CHINCHILLA_ALPHA = 0.34
CHINCHILLA_BETA = 0.28

# Kaplan et al. 2020, Figure 14 (left) and Table 6: N_opt = N_e * (C_min / PF-day)^p_N with N_e = 1.3e9
# non-embedding parameters and p_N = 0.73 (eq. 6.1: N ~ C_min^0.73); restated by Hoffmann et al. 2022
# (Table 2: a = 0.73, b = 0.27). The constant was confirmed from secondary notes reproducing the figure
# ("N = (1.3*10^9) * C_min^0.73"), not from the paper's PDF itself.
KAPLAN_N_E = 1.3e9
KAPLAN_EXPONENT = 0.73

TOKENS_PER_PARAM_RULE = 20.0  # "about 20 tokens per parameter", Hoffmann et al. 2022 Table 3 (20-22)
MFU_TOLERANCE = 1e-3  # relative; the planners print the MFU to 0.1 % (absolute), and an MFU is at most 1


@dataclass(frozen=True)
class Table3Row:
    """One row of Hoffmann et al. 2022 Table 3 (approach 1): parameters, FLOPs and tokens."""

    params: float
    flops: float
    tokens: float


# Hoffmann et al. 2022 (arXiv 2203.15556), Table 3 "Estimated optimal training FLOPs and training tokens for
# various model sizes" (approach 1); also ../shared/reference/scaling_laws.yaml. The 67B row (Gopher's budget)
# is the only one whose tokens break C = 6 N D by more than 1 % (6 N D = 1.047 C).
CHINCHILLA_TABLE3: tuple[Table3Row, ...] = (
    Table3Row(400e6, 1.92e19, 8.0e9),
    Table3Row(1e9, 1.21e20, 20.2e9),
    Table3Row(10e9, 1.23e22, 205.1e9),
    Table3Row(67e9, 5.76e23, 1.5e12),
    Table3Row(175e9, 3.85e24, 3.7e12),
    Table3Row(280e9, 9.90e24, 5.9e12),
    Table3Row(520e9, 3.43e25, 11.0e12),
    Table3Row(1e12, 1.27e26, 21.2e12),
    Table3Row(10e12, 1.30e28, 216.2e12),
)


@dataclass(frozen=True)
class Allocation:
    """A training run's size: parameters, tokens and the FLOPs they cost (C = 6 N D)."""

    params: float
    tokens: float

    @property
    def flops(self) -> float:
        """Training compute, FLOPs."""
        return FLOPS_PER_PARAM_TOKEN * self.params * self.tokens

    @property
    def gopher_units(self) -> float:
        """Compute relative to Gopher's budget (5.76e23 FLOPs)."""
        return self.flops / GOPHER_FLOPS

    @property
    def tokens_per_param(self) -> float:
        """D / N."""
        return self.tokens / self.params


@dataclass(frozen=True)
class ScalingLaw:
    """N_opt = coefficient * (C / compute_unit_flops)^exponent, D_opt = C / (6 N_opt)."""

    key: str
    title: str
    coefficient: float  # G, parameters at C = compute_unit_flops
    exponent: float  # a: N_opt ~ C^a, so D_opt ~ C^(1 - a)
    compute_unit_flops: float  # c0: 6 for the Chinchilla forms written in C/6, 8.64e19 for Kaplan's PF-days
    source: str

    @property
    def rule(self) -> str:
        """The law as a formula, e.g. 'N = 0.242 * (C / 6)^0.498'."""
        unit = "PF-day" if self.compute_unit_flops == PF_DAY_FLOPS else f"{self.compute_unit_flops:g}"
        return f"N = {self.coefficient:.4g} * (C / {unit})^{self.exponent:.4g}, D = C / (6 N)"

    def params_for_compute(self, flops: float) -> float:
        """Compute-optimal parameters for a budget of `flops`."""
        return self.coefficient * math.pow(flops / self.compute_unit_flops, self.exponent)

    def compute_for_params(self, params: float) -> float:
        """The budget, FLOPs, for which `params` is compute-optimal."""
        return self.compute_unit_flops * math.pow(params / self.coefficient, 1.0 / self.exponent)

    def for_compute(self, flops: float) -> Allocation:
        """Optimal N and D for `flops`."""
        params = self.params_for_compute(flops)
        return Allocation(params, flops / (FLOPS_PER_PARAM_TOKEN * params))

    def for_params(self, params: float) -> Allocation:
        """The tokens (and compute) for which `params` is compute-optimal."""
        flops = self.compute_for_params(params)
        return Allocation(params, flops / (FLOPS_PER_PARAM_TOKEN * params))


def fit_power_law(rows: tuple[Table3Row, ...], exponent: float | None = None) -> tuple[float, float]:
    """(G, a) of N = G * (C/6)^a by least squares in log space over `rows` (log N on log C/6); with
    `exponent` given, only G is fitted (the mean of log N - a log C/6)."""
    x = np.log([r.flops / FLOPS_PER_PARAM_TOKEN for r in rows])
    y = np.log([r.params for r in rows])
    if exponent is None:
        slope, intercept = np.polyfit(x, y, 1)
        return float(math.exp(intercept)), float(slope)
    return float(math.exp(float(np.mean(y - exponent * x)))), exponent


@functools.cache
def chinchilla_approach1() -> ScalingLaw:
    """Hoffmann et al. 2022 approach 1, fitted once to every row of Table 3.

    Exponent and constant are both fitted (least squares of log N on log C/6 over the nine rows): a = 0.498,
    the paper's a = 0.50 (Table 2) to its printed precision, G = 0.242. With a fixed at exactly 0.5 the
    best constant (G = 0.219, 20.9 tokens per parameter) misses the 10T row by 3.4 % in tokens and 3.6 %
    in FLOPs, because Table 3's tokens per parameter drift from 20.0 to 21.6 across its range.
    """
    coefficient, exponent = fit_power_law(CHINCHILLA_TABLE3)
    return ScalingLaw(
        "chinchilla_approach1", "Chinchilla approach 1", coefficient, exponent, FLOPS_PER_PARAM_TOKEN,
        "Hoffmann et al. 2022 (arXiv 2203.15556) Table 3, log-space least-squares fit over all 9 rows",
    )


def chinchilla_approach3(
    a: float = CHINCHILLA_A, b: float = CHINCHILLA_B, alpha: float = CHINCHILLA_ALPHA, beta: float = CHINCHILLA_BETA,
) -> ScalingLaw:
    """Minimum of L(N, D) = E + A/N^alpha + B/D^beta on C = 6 N D: N_opt = G (C/6)^(beta/(alpha+beta)),
    G = (alpha A / (beta B))^(1/(alpha+beta)) (E does not move the optimum). With the paper's rounded
    constants a = beta/(alpha+beta) = 0.452 (the paper's Table 2 gives 0.46 from unrounded ones)."""
    coefficient = (alpha * a / (beta * b)) ** (1.0 / (alpha + beta))
    return ScalingLaw(
        "chinchilla_approach3", "Chinchilla approach 3", coefficient, beta / (alpha + beta), FLOPS_PER_PARAM_TOKEN,
        f"Hoffmann et al. 2022 sec. 3.3 parametric loss E + A/N^alpha + B/D^beta (E={CHINCHILLA_E:g}, A={a:g}, "
        f"B={b:g}, alpha={alpha:g}, beta={beta:g}), minimised analytically under C = 6ND",
    )


def tokens_per_param_rule(ratio: float = TOKENS_PER_PARAM_RULE) -> ScalingLaw:
    """D = ratio * N, so C = 6 ratio N^2 and N = (C / (6 ratio))^0.5."""
    return ScalingLaw(
        "tokens_per_param_20", f"{ratio:g} tokens per parameter", ratio ** -0.5, 0.5, FLOPS_PER_PARAM_TOKEN,
        "rule of thumb from Hoffmann et al. 2022 (Table 3: 20-22 tokens per parameter)",
    )


def kaplan() -> ScalingLaw:
    """Kaplan et al. 2020: N_opt = 1.3e9 (C_min / PF-day)^0.73 (per 10x compute: parameters x5.37, tokens
    x1.86; Hoffmann et al. 2022 restate it as x5.5 and x1.8). Kaplan's N excludes embeddings and C_min is
    the non-embedding compute; D here is C / (6 N), as for the other laws."""
    return ScalingLaw(
        "kaplan2020", "Kaplan et al. 2020", KAPLAN_N_E, KAPLAN_EXPONENT, PF_DAY_FLOPS,
        "Kaplan et al. 2020 (arXiv 2001.08361) Fig. 14 / Table 6: N = 1.3e9 (C_min/PF-day)^0.73, "
        "non-embedding parameters",
    )


def all_laws() -> tuple[ScalingLaw, ...]:
    """Every law the planner reports, Chinchilla approach 1 first."""
    return (chinchilla_approach1(), chinchilla_approach3(), tokens_per_param_rule(), kaplan())


def chinchilla_loss(params: float, tokens: float) -> float:
    """Hoffmann et al. 2022's fitted loss L(N, D) = E + A/N^alpha + B/D^beta, nats per token."""
    return (CHINCHILLA_E + CHINCHILLA_A / math.pow(params, CHINCHILLA_ALPHA)
            + CHINCHILLA_B / math.pow(tokens, CHINCHILLA_BETA))


@dataclass(frozen=True)
class Schedule:
    """How long a training run takes on some GPUs at some MFU, and the GPU-hours it consumes."""

    gpus: int
    days: float
    gpu_hours: float


def gpus_for_days(flops: float, days: float, peak_flops_per_s: float, mfu: float) -> Schedule:
    """The fewest whole GPUs that finish `flops` within `days` at `mfu` of `peak_flops_per_s`."""
    rate = peak_flops_per_s * mfu
    gpu_seconds = flops / rate
    gpus = max(1, math.ceil(gpu_seconds / (days * 86400.0) * (1 - 1e-12)))
    return Schedule(gpus, gpu_seconds / gpus / 86400.0, gpu_seconds / 3600.0)


def days_for_gpus(flops: float, gpus: int, peak_flops_per_s: float, mfu: float) -> Schedule:
    """Days `gpus` GPUs need for `flops` at `mfu` of `peak_flops_per_s`."""
    gpu_seconds = flops / (peak_flops_per_s * mfu)
    return Schedule(gpus, gpu_seconds / gpus / 86400.0, gpu_seconds / 3600.0)


@dataclass(frozen=True)
class SustainedMfu:
    """A self-sustaining MFU: `mfu_at(mfu) >= mfu`, and some MFU above it by at most the tolerance is not
    (`mfu_at(above) < above`, or `above` is 1). `mfu` is 0 where no MFU down to the tolerance sustains itself."""

    mfu: float
    above: float
    evaluations: int  # calls of mfu_at


def sustained_mfu(mfu_at: Callable[[float], float], start: float,
                  tolerance: float = MFU_TOLERANCE) -> SustainedMfu:
    """The MFU v at which `mfu_at(v) - v` changes sign from >= 0 to < 0, to a relative `tolerance`, where
    `mfu_at(v)` is the MFU of the work that MFU v affords (0 where that work does not run) and may jump.

    A bracket lo < hi of (0, 1] with mfu_at(lo) >= lo (at lo = 0 trivially) and mfu_at(hi) < hi (or hi = 1) is
    narrowed until hi - lo <= tolerance x hi, from `start`, by the fixed-point step v -> mfu_at(v) while only
    one end has been evaluated, then by the Illinois variant of regula falsi (the secant of the two ends, exact
    where the MFU is constant between them, the kept end's surplus halved when it is kept twice), and by
    bisection where two steps did not halve the bracket; each point is moved at least tolerance x hi / 2 inside
    the bracket. Where the MFU falls as v (so the work) grows, the sign changes once and lo is the largest MFU
    that sustains itself. Where the MFU jumps across its fixed point (a layout switch, or the estimate's
    rounding), lo is the MFU just below the jump: its work runs at least as fast as assumed."""
    lo, hi = 0.0, 1.0
    surplus_lo: float | None = None  # mfu_at(v) - v at the evaluated ends
    surplus_hi: float | None = None
    point, evaluations, widths, raised = start, 0, [2.0, 1.0], None
    while hi - lo > tolerance * hi and hi > tolerance:
        surplus = mfu_at(point) - point
        evaluations += 1
        if surplus >= 0:
            if raised is True and surplus_hi is not None:
                surplus_hi /= 2
            lo, surplus_lo, raised = point, surplus, True
        else:
            if raised is False and surplus_lo is not None:
                surplus_lo /= 2
            hi, surplus_hi, raised = point, surplus, False
        if surplus_lo is not None and surplus_hi is not None:
            candidate = lo + surplus_lo * (hi - lo) / (surplus_lo - surplus_hi)
        else:
            candidate = point + surplus
        if hi - lo > widths[-2] / 2:
            candidate = (lo + hi) / 2
        widths.append(hi - lo)
        margin = tolerance * hi / 2
        point = min(max(candidate, lo + margin), hi - margin)
    return SustainedMfu(mfu=lo if hi > tolerance else 0.0, above=hi, evaluations=evaluations)
