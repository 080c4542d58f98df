"""Build the Network of a topology spec: one builder per `kind`."""

from __future__ import annotations

from simulator.models.topology.dragonfly import build_dragonfly
from simulator.models.topology.fat_tree import build_switched
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import (
    DragonflyTopology,
    FatTreeTopology,
    OcsTorusTopology,
    SingleSwitchTopology,
    TorusTopology,
)
from simulator.models.topology.torus import build_ocs_torus, build_torus

TopologySpec = SingleSwitchTopology | FatTreeTopology | TorusTopology | OcsTorusTopology | DragonflyTopology


def build_network(spec: TopologySpec, shape: ClusterShape) -> Network:
    """The network of `spec` for a cluster of `shape`; TopologyError names a bad field."""
    if isinstance(spec, SingleSwitchTopology | FatTreeTopology):
        network = build_switched(spec, shape)
    elif isinstance(spec, TorusTopology):
        network = build_torus(spec, shape)
    elif isinstance(spec, OcsTorusTopology):
        network = build_ocs_torus(spec, shape)
    else:
        network = build_dragonfly(spec, shape)
    network.collective_overhead_s = spec.collective_overhead_s
    return network
