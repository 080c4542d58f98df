"""The schema of `cluster.pools`: groups of identical nodes, each with its own accelerator, power cap and price,
side by side on one network (docs/fleets.md). A cluster written the old way is one pool named `default`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from simulator.base import Strict
from simulator.models.hardware import Accelerator
from simulator.scenario.capacity import SpotSpec
from simulator.scenario.refs import NAME_PATTERN, AcceleratorRef
from simulator.units import Power

RentalKind = Literal["on_demand", "one_year", "three_year", "spot", "contract"]
POOL_KEYS = ("accelerator", "nodes", "gpus_per_node", "power_cap")  # the old form's keys that pools replace
POOL_FIELDS = ("accelerator", "nodes", "gpus_per_node", "power_cap_w", *POOL_KEYS)  # by field name or alias


def settable_cap(cap_w: float | None, info: ValidationInfo) -> float | None:
    """A `power_cap` the accelerator given before it can be held to (ValueError saying why not)."""
    accelerator = info.data.get("accelerator")
    if cap_w is not None and isinstance(accelerator, Accelerator) and (problem := accelerator.power_cap_problem(cap_w)):
        raise ValueError(problem)
    return cap_w


def carry_cap(spec: PoolSpec | Any) -> None:
    """Every model reads the cap from the accelerator: hand `spec` (a pool, or a cluster of the old form) a copy
    of its accelerator that carries its `power_cap_w`."""
    if spec.power_cap_w is not None and spec.accelerator.power_cap_w != spec.power_cap_w:
        object.__setattr__(spec, "accelerator", spec.accelerator.model_copy(update={"power_cap_w": spec.power_cap_w}))


class PoolSpec(Strict):
    """Nodes of one accelerator: where they sit is their place in the list (pools take consecutive nodes of the
    cluster's topology, in order), what they cost is the scenario's pricing unless the pool gives its own."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="unique pool name (workloads pin to it)")
    accelerator: AcceleratorRef = Field(description="catalog name, inline mapping, or {base: name, ...}")
    nodes: int = Field(gt=0, le=131_072, description="nodes (servers) of this pool")
    gpus_per_node: int = Field(gt=0, le=1024, description="accelerators per node (one scale-up domain)")
    scale_up_domain: int | None = Field(
        None, gt=0, le=1 << 16,
        description="GPUs per scale-up (NVLink) domain in this pool, e.g. 72 for GB200 NVL72 racks of 18 nodes of 4; "
        "default: the topology's scale_up_domain, else gpus_per_node (switched topologies only)",
    )
    power_cap_w: Power | None = Field(
        None, alias="power_cap", gt=0,
        description="operating power cap of every GPU of the pool, W (as cluster.power_cap); null: none",
    )
    gpu_hour_usd: float | None = Field(
        None, ge=0, le=1e4, description="this pool's price of one GPU-hour, USD (instead of the scenario's pricing)"
    )
    rental: RentalKind | None = Field(
        None, description="this pool's catalog rental kind: on_demand, one_year, three_year, spot or contract "
        "(instead of the scenario's pricing)",
    )
    spot: SpotSpec | None = Field(
        None, description="spot capacity: the cloud reclaims nodes after a notice and returns them later "
        "(docs/fleets.md); null: the pool's nodes are never reclaimed",
    )

    _settable_cap = field_validator("power_cap_w")(settable_cap)

    @field_validator("scale_up_domain")
    @classmethod
    def _whole_domains(cls, size: int | None, info: ValidationInfo) -> int | None:
        nodes, width = info.data.get("nodes"), info.data.get("gpus_per_node")
        if size is not None and nodes is not None and width is not None and (nodes * width) % size:
            raise ValueError(f"the pool's {nodes * width} GPUs ({nodes} nodes x {width}) do not split into "
                             f"domains of {size}")
        return size

    @model_validator(mode="after")
    def _capped_and_priced(self) -> PoolSpec:
        if self.gpu_hour_usd is not None and self.rental is not None:
            raise ValueError("give gpu_hour_usd or rental for a pool, not both")
        carry_cap(self)
        return self

    @property
    def gpus(self) -> int:
        """Accelerators in the pool."""
        return self.nodes * self.gpus_per_node


def pooled_cluster(data: Any) -> Any:
    """The old form's fields filled from `pools:` (nodes: their sum; gpus_per_node: the one they share;
    accelerator: the first pool's), so everything that reads the cluster as a whole keeps working; the old form's
    keys next to `pools:` are refused, since each pool gives its own."""
    if not isinstance(data, dict) or not isinstance(data.get("pools"), list) or not data["pools"]:
        return data
    given = [key for key in POOL_KEYS if key in data]
    if given:
        raise ValueError(f"with pools:, give {', '.join(given)} in each pool instead of on the cluster")
    pools = [p for p in data["pools"] if isinstance(p, dict)]
    if len(pools) != len(data["pools"]):
        return data  # the pools' own validation reports it
    nodes = [p.get("nodes") for p in pools]
    widths = {p.get("gpus_per_node") for p in pools if isinstance(p.get("gpus_per_node"), int | float | str)}
    if len(widths) > 1:
        raise ValueError(f"pools must share gpus_per_node (got {', '.join(sorted(map(str, widths)))}): GPUs are "
                         "numbered node by node across the cluster's one network; write wider servers as nodes of "
                         "the common width with the pool's own scale_up_domain (8-GPU servers next to 4-GPU trays: "
                         "nodes of 4 with scale_up_domain: 8)")
    filled = dict(data)
    if all(isinstance(n, int) and not isinstance(n, bool) for n in nodes):
        filled["nodes"] = sum(nodes)
    if widths:
        filled["gpus_per_node"] = widths.pop()
    filled["accelerator"] = pools[0].get("accelerator")
    return filled
