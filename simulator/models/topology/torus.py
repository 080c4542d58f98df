"""Switchless tori (TPU-style ICI): chips on a 2D or 3D torus, optionally twisted, and TPU v4-style cubes of
chips joined into a job's torus by optical circuit switches (OCS).

Every link is one channel per direction. Routing is dimension-order (dimension 0 first), the shorter way
around each ring, so a failed link that a flow needs partitions the job rather than being routed around.
On a twisted torus (Jouppi et al., ISCA 2023) the wraparound links of the longest dimension t also shift
the coordinate of the next dimension u = t + 1 (cyclically) by half its size; the router then picks, per
flow, the way around t that minimises the t hops plus the remaining ring distance along u (see TorusRouter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.models.topology.network import Channels, IntArray, NetGraph, Network, Routes, new_graph
from simulator.models.topology.shape import ClusterShape, TopologyError
from simulator.models.topology.specs import OcsTorusTopology, TorusTopology

_AXES = "xyz"
Node = tuple[str, int] | tuple[str, int, int]  # ("gpu", chip) or ("ocs", dimension, face position)


def _ring(delta: IntArray, size: int) -> IntArray:
    """Hops between two positions `delta` apart on a ring of `size`, the shorter way round."""
    forward = delta % size
    return np.minimum(forward, size - forward)


@dataclass(frozen=True)
class TorusRouter:
    """Dimension-order routing on a (possibly twisted) torus, vectorised over flows.

    Chip c sits at coordinates with the first dimension fastest (c = x + X * (y + Y * z)). Along every
    dimension but the twisted one, a flow takes the shorter way round (ties: positive from even coordinates,
    negative from odd ones, so half-way traffic uses both directions). Along the twisted
    dimension t, crossing the wraparound shifts coordinate u by +h going up and -h going down; of the two ways
    round t, the flow takes the one with fewer t hops plus ring distance still left along u after the shift
    (ties alternate as above), and the u leg, routed in its own turn, aims for the destination less the shift still to
    come. Only one wraparound crossing ever pays off (k_t >= k_u), so routes are shortest paths.
    """

    dims: tuple[int, ...]
    plus: IntArray  # plus[d, c]: channel leaving chip c towards +d (through the twist on d == twisted_dim)
    minus: IntArray  # minus[d, c]: channel leaving chip c towards -d (== plus for an untwisted dimension of 2)
    twisted_dim: int  # t, or -1 without a twist

    def routes(self, src: IntArray, dst: IntArray) -> Routes:
        """Channels crossed by each flow src[i] -> dst[i]: one entry, weight 1, per hop."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        dims, t = self.dims, self.twisted_dim
        strides = [math.prod(dims[:d]) for d in range(len(dims))]
        cur = [(src // strides[d]) % k for d, k in enumerate(dims)]
        tgt = [(dst // strides[d]) % k for d, k in enumerate(dims)]
        chip = src.copy()
        flows = np.arange(src.size, dtype=np.int64)
        u, shift = -1, np.zeros(src.size, dtype=np.int64)
        t_sign, t_hops = shift, shift
        if t >= 0:
            u = (t + 1) % len(dims)
            kt, ku, half = dims[t], dims[u], dims[u] // 2
            up = (tgt[t] - cur[t]) % kt
            down = (kt - up) % kt
            shift_up = np.where(cur[t] + up >= kt, half, 0)  # crosses the wraparound going up
            shift_down = np.where(cur[t] - down < 0, -half, 0)
            along_u = tgt[u] - cur[u]
            cost_up = up + _ring(along_u - shift_up, ku)
            cost_down = down + _ring(along_u - shift_down, ku)
            go_up = (cost_up < cost_down) | ((cost_up == cost_down) & (cur[t] % 2 == 0))  # ties alternate
            t_sign = np.where(go_up, 1, -1)
            t_hops = np.where(go_up, up, down)
            shift = np.where(go_up, shift_up, shift_down)
        flow_parts: list[IntArray] = []
        channel_parts: list[IntArray] = []
        for d, k in enumerate(dims):
            if d == t:
                sign, hops = t_sign, t_hops
            else:
                want = tgt[d] - cur[d] - (shift if d == u and u < t else 0)  # the twist still to come
                delta = want % k
                # ties (exactly half way round) alternate by source coordinate, so both directions share them
                forward = (2 * delta < k) | ((2 * delta == k) & (cur[d] % 2 == 0))
                sign = np.where(forward, 1, -1)
                hops = np.where(forward, delta, k - delta)
            flow = np.repeat(flows, hops)
            if flow.size:
                step = np.arange(flow.size, dtype=np.int64) - np.repeat(np.cumsum(hops) - hops, hops)
                raw = cur[d][flow] + sign[flow] * step  # coordinate before each hop, unwrapped
                at = chip[flow] + (raw % k - cur[d][flow]) * strides[d]
                if d == t:
                    crossed = (raw >= k) | (raw < 0)
                    moved_u = (cur[u][flow] + shift[flow]) % dims[u] - cur[u][flow]
                    at = at + np.where(crossed, moved_u * strides[u], 0)
                flow_parts.append(flow)
                channel_parts.append(np.where(sign[flow] > 0, self.plus[d, at], self.minus[d, at]))
            moved = (cur[d] + sign * hops) % k
            chip = chip + (moved - cur[d]) * strides[d]
            cur[d] = moved
            if d == t:
                moved = (cur[u] + shift) % dims[u]
                chip = chip + (moved - cur[u]) * strides[u]
                cur[u] = moved
        if not flow_parts:
            empty = np.zeros(0, dtype=np.int64)
            return Routes(empty, empty, np.zeros(0))
        flow = np.concatenate(flow_parts)
        return Routes(flow, np.concatenate(channel_parts), np.ones(flow.size))


@dataclass(frozen=True)
class _Links:
    """The torus's links, one entry each: dimension, chip a, its +neighbour b, channels a->b and b->a."""

    dim: IntArray
    a: IntArray
    b: IntArray
    forward: IntArray
    backward: IntArray


def _torus(dims: tuple[int, ...], twisted: bool, channels: Channels, bandwidth: float, efficiency: float,
           hop_latency_s: float) -> tuple[TorusRouter, _Links]:
    """Channels, router and link list of a torus of `dims` chips (shared by build_torus and build_ocs_torus)."""
    chips = math.prod(dims)
    ids = np.arange(chips, dtype=np.int64)
    strides = [math.prod(dims[:d]) for d in range(len(dims))]
    coords = [(ids // strides[d]) % k for d, k in enumerate(dims)]
    longest = max(dims)
    t = max(d for d, k in enumerate(dims) if k == longest) if twisted else -1
    plus = np.zeros((len(dims), chips), dtype=np.int64)
    minus = np.zeros((len(dims), chips), dtype=np.int64)
    parts: list[tuple[IntArray, ...]] = []
    for d, k in enumerate(dims):
        axis = _AXES[d]
        # An untwisted dimension of 2 has one link per chip pair: its two directions are the same channels.
        single = k == 2 and d != t
        plus[d] = channels.add_block(chips, f"ici {axis}{'' if single else '+'} chip", "ici", bandwidth,
                                     efficiency, hop_latency_s) + ids
        minus[d] = plus[d] if single else channels.add_block(chips, f"ici {axis}- chip", "ici", bandwidth,
                                                             efficiency, hop_latency_s) + ids
        neighbour = ids + ((coords[d] + 1) % k - coords[d]) * strides[d]
        if d == t:
            u = (t + 1) % len(dims)
            twist = ((coords[u] + dims[u] // 2) % dims[u] - coords[u]) * strides[u]
            neighbour = neighbour + np.where(coords[d] == k - 1, twist, 0)
        a = ids[coords[d] == 0] if single else ids
        b = neighbour[a]
        parts.append((np.full(a.size, d, dtype=np.int64), a, b, plus[d, a], minus[d, b]))
    links = _Links(*(np.concatenate([p[i] for p in parts]) for i in range(5)))
    return TorusRouter(tuple(dims), plus, minus, t), links


def _link_bandwidth(spec: TorusTopology | OcsTorusTopology, shape: ClusterShape, dimensions: int) -> float:
    """Per link and direction: as given, else the chip's scale-up bandwidth spread over its 2 x dims links."""
    if spec.link_bandwidth_bytes_per_s is not None:
        return float(spec.link_bandwidth_bytes_per_s)
    return shape.scale_up_bandwidth_bytes_per_s / (2 * dimensions)


def _add_edge(graph: NetGraph, u: Node, v: Node, bandwidth: float, kind: str, forward: int, backward: int,
              link: object = None) -> None:
    """Edge u-v whose channel u->v is `forward`; the channels tuple follows the endpoints in sorted order.
    Edges given the same `link` key are halves of one logical link (a circuit through an OCS)."""
    pair = (int(forward), int(backward)) if u < v else (int(backward), int(forward))
    graph.add_edge(u, v, bandwidth=bandwidth, kind=kind, channels=pair, count=1)
    if link is not None:
        graph.edges[u, v]["link"] = link


def _twist_note(router: TorusRouter) -> str:
    t = router.twisted_dim
    if t < 0:
        return ""
    u = (t + 1) % len(router.dims)
    return f"{_AXES[t]} wraparound shifts {_AXES[u]} by {router.dims[u] // 2}"


def build_torus(spec: TorusTopology, shape: ClusterShape) -> Network:
    """The graph, channels and router of a 2D/3D (optionally twisted) torus with one chip per GPU id."""
    dims = tuple(spec.dims)
    chips = math.prod(dims)
    if chips != shape.gpus:
        raise TopologyError("dims", (
            f"dims {' x '.join(str(k) for k in dims)} = {chips:,} chips but the cluster has {shape.gpus:,} "
            f"({shape.nodes:,} nodes x {shape.gpus_per_node} gpus_per_node)"
        ))
    bandwidth = _link_bandwidth(spec, shape, len(dims))
    channels = Channels()
    router, links = _torus(dims, spec.twisted, channels, bandwidth, spec.scale_up_efficiency,
                           spec.scale_up_latency_s)
    graph: NetGraph = new_graph()
    graph.add_nodes_from((("gpu", c) for c in range(chips)), role="gpu")
    for a, b, f, r in zip(links.a.tolist(), links.b.tolist(), links.forward, links.backward, strict=True):
        _add_edge(graph, ("gpu", a), ("gpu", b), bandwidth, "ici", f, r)
    # Scalable unit: a TPU v4-style 64-chip cube where it tiles the torus and a plane (all dims but the last)
    # is bigger; otherwise one plane, which always tiles it.
    plane = math.prod(dims[:-1])
    unit = 64 if plane > 64 and chips % 64 == 0 else plane
    notes: dict[str, object] = {"dims": dims, "twisted": spec.twisted}
    if spec.twisted:
        notes["twist"] = _twist_note(router)
    return Network("torus", graph, chips, channels, router, scale_up=None, unit_gpus=unit, notes=notes)


def build_ocs_torus(spec: OcsTorusTopology, shape: ClusterShape) -> Network:
    """TPU v4-style cubes joined by optical circuit switches into the torus of the job's slice.

    GPU ids 0 .. slice chips - 1 are the slice, numbered like build_torus over the slice dims; the Network's
    `gpus` is the slice (the chips a job can use). Chips of idle cubes follow, then those of spare cubes: graph
    nodes with their in-cube links, but no routed traffic. Links inside a cube are direct chip-chip edges;
    every link leaving a cube through a face runs chip -> OCS -> chip (both edges carry the link's channels).
    One OCS per dimension and position on a cube face, as in TPU v4 (48 for 4x4x4 cubes).
    """
    cube = tuple(spec.cube)
    per_cube = math.prod(cube)
    gpus = shape.gpus
    if min(cube) < 2:
        raise TopologyError("cube", f"cube {' x '.join(map(str, cube))} needs at least 2 chips along each dimension")
    if gpus % per_cube:
        raise TopologyError("cube", (
            f"{gpus:,} chips ({shape.nodes:,} nodes x {shape.gpus_per_node} gpus_per_node) do not split into "
            f"cubes of {' x '.join(map(str, cube))} = {per_cube} chips"
        ))
    cubes = gpus // per_cube
    available = cubes - spec.spare_cubes
    if available < 1:
        raise TopologyError("spare_cubes", f"{spec.spare_cubes} spare cubes leave none of the {cubes} for the job")
    dims = tuple(spec.slice) if spec.slice is not None else (cube[0], cube[1], cube[2] * available)
    if any(k < 1 or k % c for k, c in zip(dims, cube, strict=True)):
        raise TopologyError("slice", (
            f"slice {' x '.join(map(str, dims))} is not made of whole {' x '.join(map(str, cube))} cubes"
        ))
    grid = tuple(k // c for k, c in zip(dims, cube, strict=True))
    slice_cubes = math.prod(grid)
    if slice_cubes > available:
        raise TopologyError("slice", (
            f"slice {' x '.join(map(str, dims))} needs {slice_cubes} cubes but only {available} of {cubes} are "
            f"not spare"
        ))
    bandwidth = _link_bandwidth(spec, shape, 3)
    channels = Channels()
    router, links = _torus(dims, spec.twisted, channels, bandwidth, spec.scale_up_efficiency,
                           spec.scale_up_latency_s)
    chips = math.prod(dims)
    ids = np.arange(chips, dtype=np.int64)
    strides = [math.prod(dims[:d]) for d in range(3)]
    coords = np.stack([(ids // strides[d]) % dims[d] for d in range(3)])  # (3, chips)
    local = coords % np.array(cube)[:, None]
    block = coords // np.array(cube)[:, None]
    cube_of = block[0] + grid[0] * (block[1] + grid[1] * block[2])

    graph: NetGraph = new_graph()
    graph.add_nodes_from((("gpu", c), {"role": "gpu", "spare": False, "cube": int(cube_of[c])}) for c in range(chips))
    for q in range(slice_cubes, cubes):
        graph.add_nodes_from((("gpu", q * per_cube + i) for i in range(per_cube)), role="gpu",
                             spare=q >= available, cube=q)
    ocs = [(d, p) for d in range(3) for p in range(per_cube // cube[d])]
    graph.add_nodes_from((("ocs", d, p) for d, p in ocs), role="ocs")
    # A link leaves its cube when chip a sits on the + face of its cube along the link's dimension.
    leaves = local[links.dim, links.a] == np.array(cube)[links.dim] - 1
    for dim, a, b, f, r, out in zip(links.dim, links.a, links.b, links.forward, links.backward, leaves, strict=True):
        if not out:
            _add_edge(graph, ("gpu", int(a)), ("gpu", int(b)), bandwidth, "ici", f, r)
            continue
        others = [e for e in range(3) if e != dim]
        switch = ("ocs", int(dim), int(local[others[0], a] + cube[others[0]] * local[others[1], a]))
        circuit = ("circuit", int(a), int(b))
        _add_edge(graph, ("gpu", int(a)), switch, bandwidth, "ocs", f, r, circuit)
        _add_edge(graph, switch, ("gpu", int(b)), bandwidth, "ocs", f, r, circuit)
    _idle_cube_links(graph, channels, cube, range(slice_cubes, cubes), bandwidth, spec.scale_up_efficiency,
                     spec.scale_up_latency_s)
    notes: dict[str, object] = {
        "cubes": cubes, "cube": cube, "spare_cubes": spec.spare_cubes, "idle_cubes": available - slice_cubes,
        "slice": dims, "slice_chips": chips, "ocs_switches": len(ocs),
        "reconfiguration_delay_s": spec.reconfiguration_delay_s, "twisted": spec.twisted,
    }
    if spec.twisted:
        notes["twist"] = _twist_note(router)
    built = Network("ocs_torus", graph, chips, channels, router, scale_up=None, unit_gpus=per_cube, notes=notes)
    built.isolates_jobs = True  # TPU v4: the OCS gives every slice circuits of its own (Jouppi et al. 2023)
    return built


def _idle_cube_links(graph: NetGraph, channels: Channels, cube: tuple[int, ...], cubes: range, bandwidth: float,
                     efficiency: float, hop_latency_s: float) -> None:
    """In-cube mesh links of cubes outside the slice: in the graph (so they can fail), never routed over."""
    per_cube = math.prod(cube)
    local = np.arange(per_cube, dtype=np.int64)
    strides = [math.prod(cube[:d]) for d in range(3)]
    for q in cubes:
        for d in range(3):
            inner = local[(local // strides[d]) % cube[d] < cube[d] - 1] + q * per_cube
            for a in inner.tolist():
                b = a + strides[d]
                f = channels.add(f"ici {_AXES[d]}+ chip[{a}]", "ici", bandwidth, efficiency, hop_latency_s)
                r = channels.add(f"ici {_AXES[d]}- chip[{b}]", "ici", bandwidth, efficiency, hop_latency_s)
                _add_edge(graph, ("gpu", a), ("gpu", b), bandwidth, "ici", f, r)
