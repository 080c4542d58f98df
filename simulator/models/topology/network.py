"""A built network: the networkx graph of switches, chips and links, plus the arrays that routing and
collective costing run on.

Routing works on directed *channels*: one per direction of a link, or of an ECMP bundle of parallel links
(all up-links of a leaf, say), whose capacity is the sum of its healthy members. A phase of concurrent
flows then takes max over channels of (bytes through it / capacity) plus the longest path latency: the
bottleneck fluid model, with bandwidth shared by every flow that crosses a channel.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
T = TypeVar("T")
if TYPE_CHECKING:  # networkx graphs are generic only in the type stubs
    import networkx as nx

    NetGraph = nx.Graph[Any]  # nodes are tuples such as ("gpu", 3), ("leaf", 0), ("ocs", 1, 5)
else:
    NetGraph = Any  # networkx loads only where a graph is built (see new_graph): pricing never needs it


def new_graph() -> NetGraph:
    """An empty networkx graph; networkx (~0.1 s to import) loads on the first call, so that commands which
    only price networks (the planners) never import it."""
    import networkx as nx

    return nx.Graph()


class Partitioned(RuntimeError):
    """Flows that cannot reach their destination because every path is down."""

    def __init__(self, channel: str) -> None:
        super().__init__(f"the job is partitioned: no healthy path through {channel}")
        self.channel = channel


@dataclass(frozen=True)
class Routes:
    """Which channels each flow crosses: parallel arrays, one entry per (flow, channel) pair."""

    flow: IntArray
    channel: IntArray
    weight: FloatArray  # fraction of the flow's bytes on that channel (ECMP splits < 1)


class Router(Protocol):
    """Maps flows (source GPU, destination GPU) to the channels they cross."""

    def routes(self, src: IntArray, dst: IntArray) -> Routes:
        """Channels crossed by each flow src[i] -> dst[i] (src != dst)."""
        ...


@dataclass
class Channels:
    """Directed channels: growable while a builder adds them, then frozen into arrays."""

    names: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # scale_up, nic, leaf, spine, ici, local, global
    raw: list[float] = field(default_factory=list)  # nominal bytes/s of healthy members
    efficiency: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)

    def add(self, name: str, kind: str, bandwidth: float, efficiency: float, latency_s: float) -> int:
        """A new channel; returns its index."""
        self.names.append(name)
        self.kinds.append(kind)
        self.raw.append(bandwidth)
        self.efficiency.append(efficiency)
        self.latency.append(latency_s)
        return len(self.names) - 1

    def add_block(self, count: int, name: str, kind: str, bandwidth: float | list[float], efficiency: float,
                  latency_s: float) -> int:
        """`count` channels named name[i], alike but for their bandwidths where a list gives one each; returns
        the first index."""
        first = len(self.names)
        self.names.extend(f"{name}[{i}]" for i in range(count))
        self.kinds.extend([kind] * count)
        self.raw.extend(bandwidth if isinstance(bandwidth, list) else [bandwidth] * count)
        self.efficiency.extend([efficiency] * count)
        self.latency.extend([latency_s] * count)
        return first


@dataclass(frozen=True)
class ScaleUp:
    """NVSwitch-style domains: GPU g reaches its domain switch on channel up + g and back on down + g."""

    domain_of: IntArray
    up: int
    down: int


@dataclass(frozen=True)
class Phase:
    """Cost of one set of concurrent flows."""

    time_s: float
    transfer_s: float  # bandwidth part: the busiest channel's bytes / capacity
    latency_s: float  # longest path latency
    bottleneck: str  # name of the busiest channel ('' if no bytes moved)


@dataclass
class _Routed:
    """Flows routed once (None where none moves), and the phases priced on them by bytes per flow."""

    routes: Routes | None
    latency_s: float  # longest path latency
    phases: dict[float, Phase] = field(default_factory=dict)


class Network:
    """A cluster's network: graph for structure and failures, channels and a router for costing."""

    def __init__(self, kind: str, graph: NetGraph | Callable[[], NetGraph], gpus: int, channels: Channels,
                 router: Router, scale_up: ScaleUp | None, unit_gpus: int, notes: dict[str, object],
                 in_switch_efficiency: float = 0.0, in_network_reduction: bool = False) -> None:
        self.kind = kind
        self._graph = graph  # or the function that builds it: see `graph`
        self.gpus = gpus
        self.router = router
        self.scale_up = scale_up  # NVSwitch domains (None on tori: every chip is its own domain)
        self.unit_gpus = unit_gpus  # GPUs of one scalable unit / pod / group / cube
        self.in_switch_efficiency = in_switch_efficiency  # > 0 where domain switches reduce (NVLS)
        self.in_network_reduction = in_network_reduction  # SHARP across nodes
        self.notes = notes  # kind-specific facts for `clustersim topology`
        # whether the network gives each job links of its own (an OCS wires a job's cubes into its own slice),
        # so that concurrent workloads never share a link
        self.isolates_jobs = False
        self.collective_overhead_s = 0.0  # fixed cost of launching one collective (set from the spec)
        self.channel_names = channels.names
        self.channel_kinds = np.array(channels.kinds)
        self.raw_bandwidth = np.array(channels.raw, dtype=np.float64)
        self.efficiency = np.array(channels.efficiency, dtype=np.float64)
        self.latency = np.array(channels.latency, dtype=np.float64)
        self.capacity = self.raw_bandwidth * self.efficiency
        self._down_edges: dict[object, set[frozenset[object]]] = {}
        self._tiers: tuple[list[str], IntArray] | None = None
        self._memo: dict[tuple[object, ...], object] | None = None  # see memoize

    @property
    def graph(self) -> NetGraph:
        """The networkx graph of switches, chips and links (structure, failures, statistics; pricing needs only
        the channels and the router). A builder may give a function that builds it on first use instead."""
        if callable(self._graph):
            self._graph = self._graph()
        return self._graph

    def memoize(self) -> Network:
        """Remember each phase's and each collective's result from now on: for a network whose links never
        change (the planners' reference clusters, priced thousands of times with the same flows). Failures and
        shares turn it off."""
        self._memo = {}
        return self

    def memoized(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """compute(), remembered under `key` while the network memoizes (see `memoize`); `key` must name
        everything the result depends on but the network."""
        if self._memo is None:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    @property
    def domain_of(self) -> IntArray:
        """Scale-up domain of each GPU."""
        if self.scale_up is None:
            return np.arange(self.gpus, dtype=np.int64)
        return self.scale_up.domain_of

    def phase(self, src: IntArray, dst: IntArray, bytes_per_flow: float) -> Phase:
        """Time for flows src[i] -> dst[i], each of `bytes_per_flow`, all at once."""
        if bytes_per_flow <= 0:
            return Phase(0.0, 0.0, 0.0, "")
        if self._memo is None:
            return self._priced(self._routed(src, dst), bytes_per_flow)
        routed = self.memoized(("flows", src.dtype.str, src.tobytes(), dst.tobytes()), lambda: self._routed(src, dst))
        if bytes_per_flow not in routed.phases:
            routed.phases[bytes_per_flow] = self._priced(routed, bytes_per_flow)
        return routed.phases[bytes_per_flow]

    def _routed(self, src: IntArray, dst: IntArray) -> _Routed:
        """The flows that move, routed, with their longest path latency."""
        moving = src != dst
        src, dst = src[moving], dst[moving]
        if src.size == 0:
            return _Routed(None, 0.0)
        routes = self.router.routes(src, dst)
        # ECMP-split flows (weights < 1) count each branch's latency by its share: the mean path latency
        path_latency = np.bincount(routes.flow, weights=routes.weight * self.latency[routes.channel],
                                   minlength=src.size)
        return _Routed(routes, float(path_latency.max()))

    def _priced(self, routed: _Routed, bytes_per_flow: float) -> Phase:
        """The phase of routed flows of `bytes_per_flow` each (> 0): the busiest channel's time plus the latency."""
        if routed.routes is None:
            return Phase(0.0, 0.0, 0.0, "")
        load = self._load(routed.routes, bytes_per_flow)
        used = load > 0
        if np.any(used & (self.capacity <= 0)):
            raise Partitioned(self.channel_names[int(np.flatnonzero(used & (self.capacity <= 0))[0])])
        seconds = np.zeros_like(load)
        seconds[used] = load[used] / self.capacity[used]
        busiest = int(np.argmax(seconds))
        transfer = float(seconds[busiest])
        return Phase(transfer + routed.latency_s, transfer, routed.latency_s, self.channel_names[busiest])

    def _load(self, routes: Routes, bytes_per_flow: float) -> FloatArray:
        """Bytes through each channel when every routed flow carries `bytes_per_flow`."""
        load = np.bincount(routes.channel, weights=routes.weight * bytes_per_flow, minlength=self.capacity.size)
        return np.asarray(load, dtype=np.float64)

    def tiers(self) -> tuple[list[str], IntArray]:
        """The channel kinds (tiers) present, and each channel's index into them (computed once)."""
        if self._tiers is None:
            names, index = np.unique(self.channel_kinds, return_inverse=True)
            self._tiers = ([str(n) for n in names], np.asarray(index, dtype=np.int64))
        return self._tiers

    def channel_load(self, src: IntArray, dst: IntArray, bytes_per_flow: float = 1.0) -> FloatArray:
        """Bytes through each channel for flows src[i] -> dst[i] of `bytes_per_flow` each (zeros if none move)."""
        moving = src != dst
        if not moving.any():
            return np.zeros_like(self.capacity)
        return self._load(self.router.routes(src[moving], dst[moving]), bytes_per_flow)

    def shared(self, share: FloatArray) -> Network:
        """A copy sharing the graph, router and link state, whose channels keep only `share` (0..1 each) of
        their capacity: what is left to one workload when others load the same links."""
        twin = copy.copy(self)
        twin._memo = None
        twin.capacity = self.capacity * share
        return twin

    # Graph edges carry {"bandwidth": per direction, "kind", "count": parallel links merged,
    # "channels": (channel u->v, channel v->u) for the edge's endpoints in sorted order, optional "link"}.

    def fail_link(self, u: object, v: object) -> None:
        """Take the graph edge u-v down: its bandwidth leaves the channels (bundles) it belonged to."""
        self._set_link(u, v, healthy=False)

    def repair_link(self, u: object, v: object) -> None:
        """Bring the graph edge u-v back."""
        self._set_link(u, v, healthy=True)

    def _set_link(self, u: object, v: object, healthy: bool) -> None:
        """A logical link (an edge, or the edges sharing one `link` key, such as the two halves of an
        optical circuit through an OCS) is down while any of its edges is down. Link state lives in this
        Network, not in the (shared) graph, so `degraded` copies are independent."""
        self._memo = None
        data = self.graph.edges[u, v]
        edge = frozenset((u, v))
        key = data.get("link", edge)
        down = self._down_edges.setdefault(key, set())
        if (edge not in down) == healthy:
            return
        was_up = not down
        if healthy:
            down.discard(edge)
        else:
            down.add(edge)
        if was_up == (not down):
            return  # the logical link's state did not change
        sign = 1.0 if healthy else -1.0
        for channel in data["channels"]:
            self.raw_bandwidth[channel] += sign * data["bandwidth"]
        self.raw_bandwidth[self.raw_bandwidth < 1e-6] = 0.0
        self.capacity = self.raw_bandwidth * self.efficiency

    def is_down(self, u: object, v: object) -> bool:
        """Whether the graph edge u-v is down here."""
        self._memo = None
        data = self.graph.edges[u, v]
        return frozenset((u, v)) in self._down_edges.get(data.get("link", frozenset((u, v))), set())

    def degraded(self, failed: Iterable[tuple[object, object]]) -> Network:
        """A copy sharing the graph and router, with its own link state and the `failed` edges down."""
        twin = copy.copy(self)
        twin._memo = None
        twin.raw_bandwidth = self.raw_bandwidth.copy()
        twin.capacity = self.capacity.copy()
        twin._down_edges = {key: set(edges) for key, edges in self._down_edges.items()}
        for u, v in failed:
            twin.fail_link(u, v)
        return twin
