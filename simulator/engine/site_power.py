"""Admission under a site power budget (policy `queue`, docs/fleets.md): the scheduler starts an allocation
only while the site's committed draw, every allocation at full load, every other GPU idle and the network, times
PUE, stays within the budget; what waits for power is counted and its wait reported."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SiteAdmission:
    """The committed facility draw and who waited for it (W at the meter, PUE included)."""

    budget_w: float
    pue: float
    base_w: float  # network plus every GPU idle, before PUE
    idle_w: float  # wall power of an idle GPU (an allocation's GPUs no longer draw it), before PUE
    full_load_w: float  # wall power per GPU at full load where a request names none, before PUE
    held_w: dict[int, float] = field(default_factory=dict)  # allocation (its lowest GPU) -> extra wall W it holds
    blocked_since: dict[int, float] = field(default_factory=dict)  # request order -> when power first held it
    waits_s: list[float] = field(default_factory=list)  # per request that waited for power, once it started
    peak_committed_w: float = 0.0

    @property
    def committed_w(self) -> float:
        """Facility draw committed now: the allocations at full load, the rest idle, the network, times PUE."""
        return (self.base_w + sum(self.held_w.values())) * self.pue

    def extra_w(self, count: int, watts_per_gpu: float | None) -> float:
        """Wall power `count` GPUs add above idle at full load (`watts_per_gpu`, else the site's figure)."""
        return count * ((self.full_load_w if watts_per_gpu is None else watts_per_gpu) - self.idle_w)

    def fits(self, order: int, count: int, watts_per_gpu: float | None, now: float) -> bool:
        """Whether request `order` may start now; a refusal starts (or continues) its wait for power."""
        if self.committed_w + self.extra_w(count, watts_per_gpu) * self.pue <= self.budget_w * (1 + 1e-12):
            return True
        self.blocked_since.setdefault(order, now)
        return False

    def start(self, order: int, key: int, count: int, watts_per_gpu: float | None, now: float) -> None:
        """Request `order` was granted as allocation `key`: commit its draw and close its wait, if it had one."""
        self.held_w[key] = self.extra_w(count, watts_per_gpu)
        self.peak_committed_w = max(self.peak_committed_w, self.committed_w)
        since = self.blocked_since.pop(order, None)
        if since is not None:
            self.waits_s.append(now - since)

    def release(self, key: int) -> None:
        """Allocation `key` gave its GPUs back."""
        self.held_w.pop(key, None)

    def waiting_s(self, now: float) -> list[float]:
        """Every wait for power so far: those that ended, and those still open at `now`."""
        return self.waits_s + [now - since for since in self.blocked_since.values()]
