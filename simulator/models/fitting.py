"""Fitting failure data: Weibull (maximum likelihood) and lognormal distributions, and the two-sample
Kolmogorov-Smirnov statistic used to compare simulated failure processes with recorded ones."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def fit_weibull(samples: FloatArray) -> tuple[float, float]:
    """(shape k, scale) maximising the Weibull likelihood of positive `samples` (Newton on the profile
    equation 1/k + mean(ln x) - sum(x^k ln x) / sum(x^k) = 0). The samples are divided by their mean first:
    k does not depend on the unit, and x^k of large, tightly clustered samples would overflow."""
    raw = np.asarray(samples, dtype=np.float64)
    unit = float(raw[raw > 0].mean())
    x = raw[raw > 0] / unit
    logs = np.log(x)
    k = 1.0
    for _ in range(100):
        xk = x**k
        a, b, c = xk.sum(), (xk * logs).sum(), (xk * logs**2).sum()
        f = 1.0 / k + logs.mean() - b / a
        df = -1.0 / k**2 - (c * a - b * b) / a**2
        step = f / df
        k = max(k - step, k / 2)
        if abs(step) < 1e-10 * k:
            break
    scale = unit * float(np.mean(x**k) ** (1.0 / k))
    return k, scale


def fit_lognormal(samples: FloatArray) -> tuple[float, float]:
    """(median, sigma) of a lognormal fitted to positive `samples` (moments of the logarithms)."""
    logs = np.log(np.asarray(samples, dtype=np.float64)[np.asarray(samples) > 0])
    return float(np.exp(logs.mean())), float(logs.std(ddof=1))


def ks_two_sample(a: FloatArray, b: FloatArray) -> float:
    """Largest distance between the empirical distribution functions of `a` and `b`."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_critical(n: int, m: int, alpha: float = 0.001) -> float:
    """Two-sample KS critical distance at significance `alpha` (asymptotic: c(alpha) sqrt((n+m)/(n m)))."""
    c = math.sqrt(-0.5 * math.log(alpha / 2.0))
    return c * math.sqrt((n + m) / (n * m))
