"""Student's t quantiles for the confidence intervals of replicate means, without scipy.

For integer degrees of freedom nu the two-sided probability P(|T| <= t) has a closed form in
theta = atan(t / sqrt(nu)) (Abramowitz and Stegun 26.7.3-4): a finite sum of nu / 2 cosine powers. The
quantile inverts it by bisection on theta in [0, pi/2), to machine precision (80 halvings). Above
LARGE_DF degrees of freedom the Cornish-Fisher expansion of t around the normal quantile z (four terms in
1 / nu, error below 1e-12 there) replaces the sum, whose length grows with nu. The normal quantile is the
standard library's (statistics.NormalDist, accurate to about 1e-15).
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

LARGE_DF = 1000
_HALVINGS = 80


def two_sided_probability(theta: float, df: int) -> float:
    """P(|T| <= sqrt(df) tan(theta)) for Student's t with `df` (>= 1, integer) degrees of freedom."""
    cos2 = math.cos(theta) ** 2
    term, total = 1.0, 1.0
    if df % 2 == 1:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        if df == 1:
            return 2.0 * theta / math.pi
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    for k in range(1, df // 2):  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def _cornish_fisher(p: float, df: int) -> float:
    z = NormalDist().inv_cdf(p)
    z2 = z * z
    return (z + z * (z2 + 1) / (4 * df) + z * ((5 * z2 + 16) * z2 + 3) / (96 * df**2)
            + z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / (384 * df**3)
            + z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / (92160 * df**4))


@lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` integer degrees of freedom (t_{0.975, 7} = 2.3646...)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if df > LARGE_DF:
        return _cornish_fisher(p, df)
    target = 2.0 * p - 1.0
    low, high = 0.0, math.pi / 2
    for _ in range(_HALVINGS):
        middle = (low + high) / 2
        if two_sided_probability(middle, df) < target:
            low = middle
        else:
            high = middle
    return math.sqrt(df) * math.tan((low + high) / 2)


def ci95_half_width(std: float, n: int) -> float | None:
    """Half-width of the 95 % confidence interval of a mean of n values with sample standard deviation `std`:
    t_{0.975, n-1} std / sqrt(n); None for one value (no spread to estimate)."""
    return None if n < 2 else t_quantile(0.975, n - 1) * std / math.sqrt(n)
