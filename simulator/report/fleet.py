"""The report's per-pool figures: each pool of a cluster with `pools:` (its accelerator, GPU time, utilization,
energy and cost), so that mixed fleets can be read pool by pool; they sum to the cluster's figures."""

from __future__ import annotations

from pydantic import Field

from simulator.report.output import Output


class PoolReport(Output):
    """One pool of the cluster over the simulated span."""

    accelerator: str = Field(description="the pool's accelerator (catalog name; +custom where changed)")
    gpus: int = Field(description="accelerators in the pool")
    scale_up_domain_gpus: int = Field(description="GPUs per scale-up (NVLink) domain, as built (1 on a torus)")
    nic_gbps: float | None = Field(description="each GPU's NIC as the network was built, Gb/s (null: none is used)")
    power_cap_w: float | None = Field(description="operating power cap of its GPUs, W (null: none)")
    utilization: float = Field(description="GPU-seconds of productive work in the pool / its GPU-seconds, 0..1")
    allocation: float = Field(description="GPU-seconds allocated to any workload / its GPU-seconds, 0..1")
    gpu_hours: float = Field(description="GPU-hours available in the pool over the simulated span")
    down_gpu_hours: float = Field(description="GPU-hours on its failed nodes under repair")
    gpu_energy_kwh: float = Field(description="facility energy of its GPUs and their servers (PUE included), kWh")
    gpu_hour_usd: float = Field(description="its price of one GPU-hour (see price_source)")
    price_source: str = Field(description="where gpu_hour_usd comes from")
    rental_usd: float = Field(description="gpu_hours x gpu_hour_usd, less the GPU-hours a spot pool was reclaimed "
                              "(not paid for)")
    energy_usd: float = Field(description="gpu_energy_kwh x pricing.electricity_usd_per_kwh (0 when not set)")
    cost_usd: float = Field(description="rental_usd + energy_usd (the network's energy is the cluster's)")
