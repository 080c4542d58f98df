"""Time nodes spent down while a workload held them, per node, and the part of it nobody pays for (spot capacity
the cloud took back): what a holder's GPUs on a failed node cost it, kept apart from the cluster's allocation."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class HeldDowntime:
    """Per node: seconds down while held (outages that ended or were counted up to a release), the unpaid part,
    and the outages of held nodes still open."""

    def __init__(self, nodes: int) -> None:
        self.node_s = np.zeros(nodes)
        self.unpaid_node_s = np.zeros(nodes)
        self.since: dict[int, float] = {}  # held nodes down now -> since when (or since last counted)
        self.unpaid: set[int] = set()  # nodes whose outage now is not paid for

    def _add(self, node: int, seconds: float) -> None:
        self.node_s[node] += seconds
        if node in self.unpaid:
            self.unpaid_node_s[node] += seconds

    def count_to(self, node: int, now: float) -> None:
        """Count node `node`'s open outage up to `now` and go on from there."""
        self._add(node, now - self.since[node])
        self.since[node] = now

    def close(self, node: int, now: float) -> None:
        """Node `node` is repaired (or no longer held): count its open outage, if any, and stop."""
        since = self.since.pop(node, None)
        if since is not None:
            self._add(node, now - since)

    def seconds(self, per_node: NDArray[np.int64], now: float, unpaid: bool = False) -> float:
        """GPU-seconds of `per_node` GPUs on each node down while held (`unpaid`: only outages not paid for),
        counting outages still open."""
        total = float(np.dot(per_node, self.unpaid_node_s if unpaid else self.node_s))
        return total + sum(int(per_node[node]) * (now - since) for node, since in self.since.items()
                           if not unpaid or node in self.unpaid)
