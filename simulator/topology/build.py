"""Build the Network of a topology spec: one builder per `kind`."""

from __future__ import annotations

from simulator.topology.dragonfly import build_dragonfly
from simulator.topology.fat_tree import build_switched
from simulator.topology.network import Network
from simulator.topology.shape import ClusterShape
from simulator.topology.specs import (
    DragonflyTopology,
    FatTreeTopology,
    OcsTorusTopology,
    SingleSwitchTopology,
    TorusTopology,
)
from simulator.topology.torus import build_ocs_torus, build_torus

TopologySpec = SingleSwitchTopology | FatTreeTopology | TorusTopology | OcsTorusTopology | DragonflyTopology


def build_network(spec: TopologySpec, shape: ClusterShape) -> Network:
    """The network of `spec` for a cluster of `shape`; TopologyError names a bad field."""
    if isinstance(spec, SingleSwitchTopology | FatTreeTopology):
        return build_switched(spec, shape)
    if isinstance(spec, TorusTopology):
        return build_torus(spec, shape)
    if isinstance(spec, OcsTorusTopology):
        return build_ocs_torus(spec, shape)
    return build_dragonfly(spec, shape)
