"""`clustersim topology`: the structure of a scenario's network without running it: parts, links, bisection,
diameter and the bus bandwidth of each collective."""

from __future__ import annotations

from simulator.models.topology import stats
from simulator.models.topology.specs import FatTreeTopology
from simulator.plan.network import network
from simulator.report.tools import BusBandwidthRow, TopologyReport
from simulator.scenario.schema import Scenario


def describe_topology(scenario: Scenario) -> TopologyReport:
    """Structure, bisection, diameter and collective bus bandwidths of the scenario's network."""
    net = network(scenario.cluster)
    spec = scenario.cluster.topology
    tiers = []
    if isinstance(spec, FatTreeTopology):
        tiers = [spec.tier_oversubscription(t) for t in range(spec.tiers - 1)]
    return TopologyReport(
        scenario=scenario.name,
        kind=net.kind,
        gpus=net.gpus,
        parts=stats.part_counts(net),
        links=stats.link_counts(net),
        bisection_bandwidth_bytes_per_s=stats.bisection_bandwidth(net),
        diameter_hops=stats.diameter_hops(net),
        oversubscription=tiers,
        unit_gpus=net.unit_gpus,
        details=net.notes,
        bus_bandwidth=[BusBandwidthRow.model_validate(row) for row in stats.bus_bandwidth_rows(net)],
    )
