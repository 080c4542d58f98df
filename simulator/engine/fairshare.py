"""Slurm's classic fair-share factor, 2^(-usage / share): usage is a tenant's fraction of all tenants'
GPU-seconds, each second decayed by half every half-life; share its entitled fraction. A tenant that used
nothing has factor 1; one that used exactly its share, 1/2. Pure bookkeeping, advanced by the cluster."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


class FairShare:
    """Decayed GPU-seconds per tenant and the priority bonus they earn."""

    def __init__(self, tenants: Iterable[str], shares: Mapping[str, float], half_life_s: float,
                 weight: float) -> None:
        names = set(tenants) | set(shares)
        total = sum(shares.get(t, 1.0) for t in names)
        self.share = {t: shares.get(t, 1.0) / total for t in names}  # entitled fraction, summing to 1
        self.half_life_s = half_life_s
        self.weight = weight
        self.usage_gpu_s: dict[str, float] = dict.fromkeys(names, 0.0)  # decayed, at `at_s`
        self.at_s = 0.0

    def advance(self, now_s: float, holding: Mapping[str, int]) -> None:
        """Decay the usage to `now_s` and add what each tenant held (GPUs) since the last call."""
        elapsed = now_s - self.at_s
        if elapsed <= 0:
            return
        decay = 2.0 ** (-elapsed / self.half_life_s)
        held_for = self.half_life_s / math.log(2.0) * (1.0 - decay)  # one GPU held throughout, decayed to now
        for tenant in self.usage_gpu_s.keys() | holding.keys():
            self.usage_gpu_s[tenant] = self.usage_gpu_s.get(tenant, 0.0) * decay + holding.get(tenant, 0) * held_for
        self.at_s = now_s

    def factor(self, tenant: str) -> float:
        """2^(-usage fraction / share fraction), in (0, 1]."""
        total = sum(self.usage_gpu_s.values())
        used = self.usage_gpu_s.get(tenant, 0.0) / total if total > 0 else 0.0
        share = self.share.get(tenant, 0.0)
        return 2.0 ** (-used / share) if share > 0 else 0.0

    def bonus(self, tenant: str) -> float:
        """Priority points the tenant's requests get: weight x factor."""
        return self.weight * self.factor(tenant)
