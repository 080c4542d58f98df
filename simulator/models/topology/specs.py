"""Topology specifications: what a scenario's `cluster.topology` may say, one model per `kind`.

Bandwidths left out come from the accelerator (NVLink-class scale-up per GPU, NIC per GPU). Efficiencies
say what fraction of a link's bandwidth a collective achieves; latencies are per hop or per ring step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from simulator.base import Strict
from simulator.units import Bandwidth, NonNegativeDuration


class _Links(Strict):
    """Link figures every kind shares."""

    nic_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="nic_bandwidth", gt=0,
        description="scale-out bandwidth per GPU, one direction (default: the accelerator's nic_bandwidth)",
    )
    scale_up_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="scale_up_bandwidth", gt=0,
        description="scale-up (NVLink-class or ICI) bandwidth per GPU, one direction (default: the accelerator's)",
    )
    scale_up_latency_s: NonNegativeDuration = Field(
        2e-6, alias="scale_up_latency", le=1.0,
        description="latency of one step between two GPUs of a scale-up domain (default 2 us: 8-GPU all-reduces "
        "of 2-60 KiB take 22-41 us over 14 ring steps in the Vidur A100/H100 DGX measurements); torus kinds: "
        "per chip-to-chip hop",
    )
    scale_out_latency_s: NonNegativeDuration = Field(
        10e-6, alias="scale_out_latency", le=1.0,
        description="latency of one step between GPUs of different nodes through one switch (default 10 us, "
        "an assumption); each further switch hop adds switch_latency",
    )
    collective_overhead_s: NonNegativeDuration = Field(
        30e-6, alias="collective_overhead", le=1.0,
        description="fixed cost of launching one collective (default 30 us: fitted, with the latencies and "
        "efficiencies above held fixed, on Vidur's 2-8 GPU H100 all-reduce times of 2 KiB-64 MiB; median error 12 %)",
    )
    switch_latency_s: NonNegativeDuration = Field(
        0.5e-6, alias="switch_latency", le=1.0,
        description="latency added per extra switch-to-switch hop (default 0.5 us)",
    )
    scale_up_efficiency: float = Field(
        0.8, gt=0, le=1,
        description="fraction of scale-up bandwidth a collective achieves (default 0.8: NCCL ring bus bandwidth "
        "230/300 GB/s on A100 and 370/450 GB/s on H100, nccl-tests issues 175/212; mean of the two)",
    )
    scale_out_efficiency: float = Field(
        0.95, gt=0, le=1,
        description="fraction of NIC and switch-link bandwidth a collective achieves (default 0.95: 192 GB/s bus "
        "bandwidth on 8x200 Gb/s DGX A100 nodes, NCCL issue 812; 46-48 of 50 GB/s per NDR NIC, nccl-tests 290/309)",
    )


class _Switched(_Links):
    """Kinds whose GPUs sit in NVSwitch-style scale-up domains joined by a switched network."""

    scale_up_domain: int | None = Field(
        None, gt=0, le=1 << 16,
        description="GPUs per scale-up (NVLink) domain, e.g. 72 for GB200 NVL72; default gpus_per_node",
    )
    in_switch_reduction: bool | None = Field(
        None,
        description="NVLink SHARP (NVLS) all-reduce inside the scale-up domain; default: the accelerator's support",
    )
    in_switch_efficiency: float = Field(
        0.61, gt=0, le=1,
        description="fraction of link bandwidth an in-switch all-reduce achieves (default 0.61: 476-480 GB/s bus "
        "bandwidth on 8x H100 NVLS, nccl-tests issues 212/290, against 1.75 x 450 GB/s)",
    )


class SingleSwitchTopology(_Switched):
    """All nodes' NICs on one non-blocking switch."""

    kind: Literal["single_switch"]


class FatTreeTopology(_Switched):
    """A folded Clos of 2 or 3 switch tiers, one NIC per GPU, oversubscribed at chosen tiers."""

    kind: Literal["fat_tree"]
    tiers: Literal[2, 3] = Field(2, description="switch tiers: 2 (leaf-spine) or 3 (leaf-spine-core, in pods)")
    radix: int = Field(64, ge=4, le=1024, description="ports per switch (64 for a Quantum-2 NDR switch)")
    oversubscription: float | tuple[float, ...] = Field(
        1.0, description="downlink/uplink bandwidth ratio: one number for the leaf tier, or one per tier "
        "[leaf, spine] (1 = non-blocking)",
    )
    rail_optimized: bool = Field(
        False, description="GPU i of every node in a scalable unit on leaf i (NVIDIA SuperPOD); else a node's "
        "GPUs share leaves",
    )
    nodes_per_su: int = Field(32, gt=0, le=4096, description="nodes per scalable unit when rail_optimized")
    sharp: bool = Field(False, description="in-network all-reduce (InfiniBand SHARP) across nodes")

    @field_validator("oversubscription")
    @classmethod
    def _at_least_one(cls, value: float | tuple[float, ...]) -> float | tuple[float, ...]:
        values = value if isinstance(value, tuple) else (value,)
        if not values or len(values) > 2 or any(not 1 <= v <= 64 for v in values):
            raise ValueError("oversubscription must be one or two ratios between 1 and 64 ([leaf, spine])")
        return value

    def tier_oversubscription(self, tier: int) -> float:
        """Oversubscription of tier 0 (leaf) or 1 (spine); 1 where not given."""
        values = self.oversubscription if isinstance(self.oversubscription, tuple) else (self.oversubscription,)
        return values[tier] if tier < len(values) else 1.0


class TorusTopology(_Links):
    """Chips on a 2D or 3D torus with wraparound links (TPU-style ICI); no switches."""

    kind: Literal["torus"]
    dims: tuple[int, ...] = Field(description="chips along each dimension, e.g. [16, 16, 16]; product = GPUs")
    twisted: bool = Field(False, description="twisted wraparound (TPU v4) on the longest dimension")
    link_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="link_bandwidth", gt=0,
        description="per link, one direction; default the chip's scale-up bandwidth / (2 x dimensions)",
    )

    @field_validator("dims")
    @classmethod
    def _two_or_three(cls, dims: tuple[int, ...]) -> tuple[int, ...]:
        if len(dims) not in (2, 3) or any(not 2 <= d <= 1024 for d in dims):
            raise ValueError("dims must list 2 or 3 sizes between 2 and 1024")
        return dims


class OcsTorusTopology(_Links):
    """Cubes of chips (4x4x4 in TPU v4) joined by optical circuit switches into the torus a job's slice needs."""

    kind: Literal["ocs_torus"]
    cube: tuple[int, int, int] = Field((4, 4, 4), description="chips per cube along x, y, z")
    slice: tuple[int, int, int] | None = Field(
        None, description="torus the job runs on, in chips (multiples of cube); default all healthy cubes in a row"
    )
    spare_cubes: int = Field(0, ge=0, le=4096, description="cubes kept idle to replace a failed one")
    reconfiguration_delay_s: NonNegativeDuration = Field(
        10.0, alias="reconfiguration_delay", description="time for the OCS to swap in a spare cube (TPU v4: ~10 s)"
    )
    twisted: bool = Field(False, description="twisted wraparound on the longest dimension of the slice")
    link_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="link_bandwidth", gt=0,
        description="per link, one direction; default the chip's scale-up bandwidth / 6",
    )


class DragonflyTopology(_Switched):
    """Groups of routers, all-to-all inside a group, global links between groups (minimal routing)."""

    kind: Literal["dragonfly"]
    groups: int = Field(gt=1, le=1024, description="router groups")
    routers_per_group: int = Field(gt=0, le=1024, description="routers in each group (full mesh inside)")
    global_links_per_router: int = Field(gt=0, le=1024, description="links from each router to other groups")
    local_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="local_bandwidth", gt=0, description="router-to-router link inside a group (default: NIC)"
    )
    global_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="global_bandwidth", gt=0, description="link between groups (default: NIC)"
    )


Topology = Annotated[
    SingleSwitchTopology | FatTreeTopology | TorusTopology | OcsTorusTopology | DragonflyTopology,
    Field(discriminator="kind"),
]
