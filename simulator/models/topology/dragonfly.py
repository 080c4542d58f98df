"""Dragonfly networks (Kim, Dally, Scott, Abts, ISCA 2008): groups of routers, full-meshed inside a group by
local links, with global links joining every pair of groups directly.

Each group has routers_per_group x global_links_per_router global ports. Every pair of groups gets floor or
ceil of ports / (groups - 1) links; a group's links are listed round-robin over destination groups (offset
1, 2, ... from the group) and handed to its routers in consecutive blocks of global_links_per_router, so the
parallel links of a pair land on different routers (the "consecutive" arrangement).

Routing is minimal: at most one global hop, local hops before and after it. The global links between two
groups form one bundle channel per direction whose capacity is their sum (as if traffic spread evenly over
them, like ECMP); the local hops follow one gateway link per (router, destination group), so local traffic
is not spread. A real dragonfly routes adaptively (UGAL, Valiant detours through a third group) and avoids
most of the hot spots minimal routing shows; this model gives the minimal-routing figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.models.topology.network import Channels, IntArray, NetGraph, Network, Routes, ScaleUp, new_graph
from simulator.models.topology.shape import (
    ClusterShape,
    TopologyError,
    add_nics,
    add_scale_up_domains,
    scale_up_or_nic,
)
from simulator.models.topology.specs import DragonflyTopology


@dataclass(frozen=True)
class _GlobalLinks:
    """The inter-group links: endpoints of each link (a_router in a_group < b_group) and per-pair counts."""

    a_router: IntArray
    b_router: IntArray
    pair_links: IntArray  # [groups, groups] links between two groups (symmetric, 0 on the diagonal)
    unused_ports: int  # global ports left unconnected in the whole network


@dataclass(frozen=True)
class DragonflyRouter:
    """Minimal routing. Same domain: over the scale-up switch. Same router: NIC up, NIC down. Same group:
    NIC up, the local link between the two routers, NIC down. Other group: NIC up, a local hop to the
    gateway router holding the global link (none if the source router holds one itself), the group-pair
    global bundle, a local hop from the arrival router to the destination router (if they differ), NIC down.
    """

    scale_up: ScaleUp
    nic_up: int
    nic_down: int
    router_of: IntArray  # router of each GPU
    routers_per_group: int
    groups: int
    local_first: int  # first local channel; -1 with one router per group
    global_first: int
    gateway_out: IntArray  # [groups, groups] router of the source group holding the pair's first link
    gateway_in: IntArray  # [groups, groups] router of the destination group where that link lands
    own_key: IntArray  # sorted router * groups + destination group, for routers holding a link there
    own_in: IntArray  # arrival router of that router's first link to that group

    def local_channel(self, frm: IntArray, to: IntArray) -> IntArray:
        """Channel of the local link frm -> to (two distinct routers of one group)."""
        a = self.routers_per_group
        i, j = frm % a, to % a
        return self.local_first + (frm // a) * a * (a - 1) + i * (a - 1) + j - (j > i)

    def global_channel(self, frm: IntArray, to: IntArray) -> IntArray:
        """Bundle channel of the global links from group frm to group to (distinct)."""
        return self.global_first + frm * (self.groups - 1) + to - (to > frm)

    def routes(self, src: IntArray, dst: IntArray) -> Routes:
        """Channels crossed by each flow."""
        parts_flow, parts_channel, remote = scale_up_or_nic(self.scale_up, self.nic_up, self.nic_down, src, dst)
        rs, rd = self.router_of[src[remote]], self.router_of[dst[remote]]
        gs, gd = rs // self.routers_per_group, rd // self.routers_per_group
        inside = (gs == gd) & (rs != rd)
        parts_flow.append(remote[inside])
        parts_channel.append(self.local_channel(rs[inside], rd[inside]))

        across = gs != gd
        flow, rs, rd, gs, gd = remote[across], rs[across], rd[across], gs[across], gd[across]
        out, arrive = self.gateway_out[gs, gd], self.gateway_in[gs, gd]
        if self.own_key.size:
            key = rs * self.groups + gd
            pos = np.minimum(np.searchsorted(self.own_key, key), self.own_key.size - 1)
            own = self.own_key[pos] == key
            out = np.where(own, rs, out)
            arrive = np.where(own, self.own_in[pos], arrive)
        first, last = rs != out, arrive != rd
        parts_flow += [flow[first], flow, flow[last]]
        parts_channel += [self.local_channel(rs[first], out[first]), self.global_channel(gs, gd),
                          self.local_channel(arrive[last], rd[last])]
        all_flows = np.concatenate(parts_flow)
        return Routes(all_flows, np.concatenate(parts_channel), np.ones(all_flows.size))


def pair_link_counts(groups: int, ports_per_group: int) -> IntArray:
    """Global links between each pair of groups: q = floor(ports / (groups - 1)) everywhere, q + 1 on pairs at
    circulant offsets 1 .. s//2 for the s spare ports, and on a (near) perfect matching when s is odd."""
    base, spare = divmod(ports_per_group, groups - 1)
    counts = np.full((groups, groups), base, dtype=np.int64)
    np.fill_diagonal(counts, 0)
    ring = np.arange(groups)
    for offset in range(1, spare // 2 + 1):  # offset < groups / 2: every group gains two links
        counts[ring, (ring + offset) % groups] += 1
        counts[(ring + offset) % groups, ring] += 1
    if spare % 2:
        # Pair neighbours along the cycles of one more offset: a perfect matching for an even number of
        # groups (offset groups/2); one group per cycle keeps a spare port for an odd number.
        offset = groups // 2 if groups % 2 == 0 else spare // 2 + 1
        cycles = math.gcd(groups, offset)
        for start in range(cycles):
            cycle = [(start + i * offset) % groups for i in range(groups // cycles)]
            for g, h in zip(cycle[0::2], cycle[1::2], strict=False):
                counts[g, h] += 1
                counts[h, g] += 1
    return counts


def _global_links(groups: int, routers_per_group: int, links_per_router: int) -> _GlobalLinks:
    """Place every pair's links on routers: a group's links in round-robin order of destination (offset 1,
    2, ...), then its routers take them in consecutive blocks of `links_per_router`."""
    counts = pair_link_counts(groups, routers_per_group * links_per_router)
    end: dict[tuple[int, int, int], int] = {}  # (group, other group, t-th link of the pair) -> router
    for g in range(groups):
        port = 0
        for t in range(int(counts[g].max())):
            for offset in range(1, groups):
                h = (g + offset) % groups
                if counts[g, h] > t:
                    end[g, h, t] = g * routers_per_group + port // links_per_router
                    port += 1
    links = [(end[g, h, t], end[h, g, t]) for g in range(groups) for h in range(g + 1, groups)
             for t in range(int(counts[g, h]))]
    a_router = np.array([u for u, _ in links], dtype=np.int64)
    b_router = np.array([v for _, v in links], dtype=np.int64)
    unused = groups * routers_per_group * links_per_router - 2 * len(links)
    return _GlobalLinks(a_router, b_router, counts, unused)


def build_dragonfly(spec: DragonflyTopology, shape: ClusterShape) -> Network:
    """The graph, channels and minimal router of a dragonfly; TopologyError where groups cannot all be
    joined directly or there are more routers than nodes."""
    groups, per_group, per_router = spec.groups, spec.routers_per_group, spec.global_links_per_router
    routers = groups * per_group
    if per_group * per_router < groups - 1:
        raise TopologyError("global_links_per_router", (
            f"{per_group} routers x {per_router} global links give a group {per_group * per_router} global "
            f"links, but every pair of groups needs a global link: {groups} groups need at least {groups - 1} "
            "per group"
        ))
    if routers > shape.nodes:
        raise TopologyError("routers_per_group", (
            f"{groups} groups x {per_group} routers = {routers} routers for {shape.nodes} nodes: a router "
            "would hold no node; use fewer groups or routers per group"
        ))
    gpus, gpn, port = shape.gpus, shape.gpus_per_node, shape.nic_bandwidth_bytes_per_s
    local_bw = spec.local_bandwidth_bytes_per_s or port
    global_bw = spec.global_bandwidth_bytes_per_s or port
    eff, hop = spec.scale_out_efficiency, spec.switch_latency_s
    graph: NetGraph = new_graph()
    channels = Channels()
    scale_up = add_scale_up_domains(graph, channels, shape, spec.scale_up_domain or gpn, spec.scale_up_efficiency,
                                    spec.scale_up_latency_s)
    nic_up, nic_down, nic = add_nics(channels, shape, eff, spec.scale_out_latency_s)

    # Nodes spread evenly and contiguously: every router holds floor or ceil of nodes / routers.
    ids = np.arange(gpus, dtype=np.int64)
    router_of = (ids // gpn) * routers // shape.nodes
    graph.add_nodes_from((("router", r), {"role": "router", "group": r // per_group}) for r in range(routers))
    graph.add_edges_from(
        (("gpu", int(g)), ("router", int(router_of[g])),
         {"bandwidth": nic[g], "kind": "nic", "channels": (nic_up + int(g), nic_down + int(g)), "count": 1})
        for g in ids
    )

    # Local links: a full mesh per group, one channel per direction, in DragonflyRouter.local_channel order.
    local_first = -1
    if per_group > 1:
        local_first = len(channels.names)
        for g in range(groups):
            for i in range(per_group):
                for j in range(per_group):
                    if i != j:
                        channels.add(f"local g{g} r{g * per_group + i}->r{g * per_group + j}", "local", local_bw,
                                     eff, hop)
        pairs_per_group = per_group * (per_group - 1)
        graph.add_edges_from(
            (("router", g * per_group + i), ("router", g * per_group + j),
             {"bandwidth": local_bw, "kind": "local", "count": 1,
              "channels": (local_first + g * pairs_per_group + i * (per_group - 1) + j - 1,
                           local_first + g * pairs_per_group + j * (per_group - 1) + i)})
            for g in range(groups) for i in range(per_group) for j in range(i + 1, per_group)
        )

    # Global links: one bundle channel per ordered group pair, in DragonflyRouter.global_channel order.
    links = _global_links(groups, per_group, per_router)
    global_first = len(channels.names)
    for g in range(groups):
        for h in range(groups):
            if g != h:
                channels.add(f"global g{g}->g{h}", "global", float(links.pair_links[g, h]) * global_bw, eff, hop)

    def bundle(g: int, h: int) -> int:
        return global_first + g * (groups - 1) + h - (h > g)

    parallel: dict[tuple[int, int], int] = {}
    for u, v in zip(links.a_router.tolist(), links.b_router.tolist(), strict=True):
        parallel[u, v] = parallel.get((u, v), 0) + 1
    graph.add_edges_from(
        (("router", u), ("router", v),
         {"bandwidth": n * global_bw, "kind": "global", "count": n,
          "channels": (bundle(u // per_group, v // per_group), bundle(v // per_group, u // per_group))})
        for (u, v), n in parallel.items()
    )

    # Gateways: the first link of each group pair (both directions), and each router's own first link to a
    # group where it holds one. Several routers may hold links to one group: only these are used for the
    # local hops (minimal routing, no spreading; see the module docstring).
    gateway_out = np.zeros((groups, groups), dtype=np.int64)
    gateway_in = np.zeros((groups, groups), dtype=np.int64)
    own: dict[int, int] = {}
    for u, v in zip(links.a_router.tolist()[::-1], links.b_router.tolist()[::-1], strict=True):
        gu, gv = u // per_group, v // per_group  # reversed, so the first link of a pair is written last
        gateway_out[gu, gv], gateway_in[gu, gv] = u, v
        gateway_out[gv, gu], gateway_in[gv, gu] = v, u
        own[u * groups + gv] = v
        own[v * groups + gu] = u
    own_key = np.array(sorted(own), dtype=np.int64)
    own_in = np.array([own[k] for k in own_key.tolist()], dtype=np.int64)

    router = DragonflyRouter(scale_up, nic_up, nic_down, router_of, per_group, groups, local_first, global_first,
                             gateway_out, gateway_in, own_key, own_in)
    off_diagonal = links.pair_links[~np.eye(groups, dtype=bool)]
    notes: dict[str, object] = {
        "groups": groups, "routers_per_group": per_group, "routers": routers,
        "nodes_per_router": math.ceil(shape.nodes / routers),
        "local_links": groups * per_group * (per_group - 1) // 2,
        "global_links": int(links.a_router.size),
        "global_links_per_group_pair": (int(off_diagonal.min()), int(off_diagonal.max())),
        "unused_global_ports": links.unused_ports,
        "routing": "minimal",
    }
    in_switch = spec.in_switch_reduction if spec.in_switch_reduction is not None else shape.in_switch_reduction
    group_gpus = int(np.bincount(router_of // per_group, minlength=groups).max())
    return Network("dragonfly", graph, gpus, channels, router, scale_up, unit_gpus=group_gpus, notes=notes,
                   in_switch_efficiency=spec.in_switch_efficiency if in_switch else 0.0)
