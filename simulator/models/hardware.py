"""Accelerator specification: the one definition used by catalog files, inline scenario entries and models.

YAML keys are short (`hbm_bandwidth: 3.35 TB/s`); Python attributes carry their SI unit
(`hbm_bandwidth_bytes_per_s`). Peak FLOP/s figures are dense (no 2:4 sparsity).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from simulator.base import Strict
from simulator.models.power import Dvfs, clock_fraction_at_cap
from simulator.units import (
    Bandwidth,
    FlopRate,
    NonNegativeDuration,
    PositiveBandwidth,
    PositiveBytes,
    PositiveFlopRate,
    Power,
)


class Precision(StrEnum):
    """Number format of the training/inference matmuls."""

    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"

    @property
    def bytes(self) -> float:
        """Bytes per value stored in this format (weights, KV cache)."""
        return 1.0 if self is Precision.FP8 else 2.0


class MemoryKind(StrEnum):
    """Access pattern of a memory-bound kernel, which sets the fraction of HBM bandwidth it reaches
    (kernels.py); traffic of no kind (GEMM operands, optimizer states) runs at `memory_efficiency`."""

    STREAMING = "streaming"  # one vectorised pass over whole tensors: residual add, dropout, casts
    NORMALISING = "normalising"  # a reduction along each row, then a pass over it: norms, softmax, cross-entropy
    ACTIVATION = "activation"  # an activation over the MLP's width: SiLU-and-multiply, bias-GeLU
    ROTARY = "rotary"  # rotary position embedding of queries and keys
    DECODE_ATTENTION = "decode_attention"  # one query token per sequence against its whole KV cache


class AttentionKernel(StrEnum):
    """Generation of the fused (flash) attention kernel a training run uses; FA3 needs Hopper (sm90)."""

    FLASH2 = "flash2"  # FlashAttention-2 (Dao 2023): Ampere and Hopper; what 2023-24 runs such as Llama 3 had
    FLASH3 = "flash3"  # FlashAttention-3 (Shah et al. 2024, released July 2024): Hopper only


class AttentionEfficiency(Strict):
    """Measured fraction of the BF16 tensor peak one fused-attention kernel reaches, with the FLOPs counted as
    its authors count them (causal: half the score matrix; backward: 2.5x the forward)."""

    kernel: AttentionKernel = Field(description="flash2 or flash3")
    forward: float = Field(gt=0, le=1, description="fraction of the BF16 tensor peak in the forward pass")
    backward: float = Field(gt=0, le=1, description="likewise in the backward pass")


# Fused attention on chips without a measurement: the mean of the A100 and H100 FlashAttention-2 figures
# (accelerators.yaml), assumed.
DEFAULT_ATTENTION = AttentionEfficiency(kernel=AttentionKernel.FLASH2, forward=0.535, backward=0.475)


class SourceStatus(StrEnum):
    """How far a catalog entry's figures are confirmed."""

    VERIFIED = "verified"  # vendor document or two independent sources
    SECONDARY = "secondary"  # one secondary source
    DERIVED = "derived"  # computed from a sourced number, rule in the note
    ASSUMED = "assumed"  # no source: an explicit assumption, stated in the note
    USER = "user"  # given inline in a scenario


class PriceKind(StrEnum):
    """How a chip is paid for: rented by the hour under some commitment, or bought."""

    ON_DEMAND = "on_demand"
    ONE_YEAR = "one_year"
    THREE_YEAR = "three_year"
    SPOT = "spot"
    CONTRACT = "contract"
    PURCHASE = "purchase"


class Price(Strict):
    """One dated, sourced price: USD per chip-hour for rentals, USD per chip for a purchase."""

    kind: PriceKind = Field(description="on_demand, one_year, three_year, spot, contract or purchase")
    usd: float = Field(gt=0, le=1e8, description="USD per chip-hour (rentals) or per chip (purchase)")
    offer: str = Field(min_length=1, description="who offers it, e.g. 'AWS p5 H100'")
    date: str = Field(pattern=r"^\d{4}(-\d{2})?(\.\.\d{4}(-\d{2})?)?$", description="YYYY-MM or a range")
    source: str = Field(min_length=1, description="where the price is published")


class Accelerator(Strict):
    """One accelerator chip (GPU, TPU, Gaudi, Trainium, ...) as the simulator sees it."""

    name: str = Field(min_length=1, description="identifier, e.g. h100-sxm")
    base: str | None = Field(None, description="catalog entry this one modifies (inline entries)")
    vendor: str = Field("unknown", description="manufacturer")
    launch_year: int | None = Field(None, ge=2000, le=2100, description="year of first availability")
    peak_bf16_flops: PositiveFlopRate = Field(
        alias="peak_bf16", description="dense BF16/FP16 tensor peak, FLOP/s (e.g. '989 TFLOP/s')"
    )
    peak_fp8_flops: FlopRate | None = Field(
        None, alias="peak_fp8", gt=0, description="dense FP8 tensor peak, FLOP/s; null if unsupported"
    )
    hbm_bytes: PositiveBytes = Field(alias="hbm", description="device memory capacity, bytes (e.g. '80 GB')")
    hbm_bandwidth_bytes_per_s: PositiveBandwidth = Field(
        alias="hbm_bandwidth", description="device memory bandwidth, bytes/s (e.g. '3.35 TB/s')"
    )
    scale_up_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="scale_up_bandwidth", gt=0,
        description="per-chip scale-up (NVLink, Infinity Fabric, ICI) bandwidth, one direction, bytes/s",
    )
    nic_bandwidth_bytes_per_s: Bandwidth | None = Field(
        None, alias="nic_bandwidth", gt=0,
        description="typical scale-out network bandwidth per chip, one direction, bytes/s (e.g. '400 Gbps')",
    )
    in_switch_reduction: bool = Field(
        False, description="scale-up switches reduce in the network (NVLink SHARP / NVLS on NVSwitch gen 3+)"
    )
    tdp_w: Power | None = Field(None, alias="tdp", gt=0, description="maximum board/module power, W")
    min_power_cap_w: Power | None = Field(
        None, alias="min_power_cap", gt=0,
        description="lowest power limit the driver accepts (nvidia-smi 'Min Power Limit'), W; null: not published",
    )
    power_cap_w: Power | None = Field(
        None, alias="power_cap", gt=0,
        description="operating power cap per chip (nvidia-smi -pl), W, set by a scenario's cluster.power_cap; "
        "null: none (the chip runs up to its TDP)",
    )
    idle_power_fraction: float = Field(
        0.2, gt=0, le=1, description="idle power as a fraction of TDP (default 0.2 is an assumption)"
    )
    full_load_power_fraction: float = Field(
        1.0, gt=0, le=1,
        description="board draw at the top clock under full compute load / tdp: a power cap at or above it does "
        "not bind (H100: 647 W of 700 W measured, Ujeniya et al. 2026); default 1, assumed",
    )
    voltage_floor: float = Field(
        0.61, gt=0, le=1,
        description="core voltage at and below voltage_floor_clock / voltage at the top clock: below that clock "
        "power falls only linearly with it (docs/fleets.md); default: the H100 calibration, assumed for "
        "other chips",
    )
    voltage_floor_clock: float = Field(
        0.41, ge=0, lt=1,
        description="SM clock / top clock below which the core voltage stays at voltage_floor (above it the "
        "voltage rises linearly to the top clock); default: the H100 calibration, assumed for other chips",
    )
    server_power_overhead: float = Field(
        1.8, ge=1, le=5,
        description="node power at full load per chip divided by TDP (CPUs, NICs, fans); DGX H100: 1.82",
    )
    matmul_efficiency: float = Field(
        0.715, gt=0, le=1,
        description="fraction of the tensor peak a large GEMM reaches (kernel roofline, fitted by "
        "benchmarks/fit_kernel_model.py; default: mean of the A100 0.72 and H100 0.71 fits)",
    )
    memory_efficiency: float = Field(
        0.625, gt=0, le=1,
        description="fraction of HBM bandwidth memory traffic of no MemoryKind reaches (GEMM operands, optimizer "
        "states); fitted likewise on all memory-bound operators pooled; default: mean of the A100 0.56 and H100 "
        "0.69 fits",
    )
    kernel_overhead_s: NonNegativeDuration = Field(
        8e-6, alias="kernel_overhead", le=1.0,
        description="fixed time per kernel launch and tail (fitted likewise: 8 us on A100 and H100)",
    )
    streaming_efficiency: float = Field(
        0.99, gt=0, le=1.5,
        description="fraction of HBM bandwidth a streaming elementwise kernel (residual add, dropout) reaches; "
        "above 1 where an input just written is still in L2 (fitted by benchmarks/fit_kernel_model.py on "
        "Vidur's residual add; default: mean of the A100 0.93 and H100 1.06 fits)",
    )
    normalising_efficiency: float = Field(
        0.36, gt=0, le=1.5,
        description="likewise for row-normalising kernels (norms, softmax, cross-entropy), fitted on Vidur's "
        "RMSNorm; default: mean of the A100 0.35 and H100 0.36 fits",
    )
    activation_efficiency: float = Field(
        0.51, gt=0, le=1.5,
        description="likewise for activations (SiLU-and-multiply, bias-GeLU), fitted on Vidur's SiLU-and-mul; "
        "default: mean of the A100 0.47 and H100 0.55 fits",
    )
    rotary_efficiency: float = Field(
        0.46, gt=0, le=1.5,
        description="likewise for rotary embedding, fitted on Vidur's RoPE; default: mean of the A100 0.44 and "
        "H100 0.48 fits",
    )
    elementwise_overhead_s: NonNegativeDuration = Field(
        1e-6, alias="elementwise_overhead", le=1.0,
        description="fixed time per launch of a streaming, normalising, activation or rotary kernel (fitted "
        "with their efficiencies: 1 us on A100 and H100)",
    )
    decode_attention_efficiency: float = Field(
        0.79, gt=0, le=1,
        description="fraction of HBM bandwidth decode attention reads the KV cache at, from published kernel "
        "measurements (docs/serving.md); default: the H100 figure",
    )
    fused_attention: tuple[AttentionEfficiency, ...] = Field(
        (),
        description="measured fused-attention (FlashAttention) efficiency per kernel generation, forward and "
        "backward (accelerators.yaml cites the benchmarks); a kernel not listed runs as flash2 does (FA3 needs "
        "Hopper); none listed: the mean of the A100 and H100 FlashAttention-2 figures (forward 0.535, backward "
        "0.475), assumed",
    )
    sparse_2_4: bool = Field(
        False, description="tensor cores run 2:4 structured-sparse GEMMs at twice the dense peak",
    )
    prices: tuple[Price, ...] = Field((), description="dated rental and purchase prices with sources")
    status: SourceStatus = Field(SourceStatus.USER, description="how far the figures are confirmed")
    sources: tuple[str, ...] = Field((), description="where each figure comes from")
    note: str = Field("", description="caveats, derivations and fitting procedure")

    @model_validator(mode="after")
    def _fp8_not_below_bf16(self) -> Accelerator:
        if self.peak_fp8_flops is not None and self.peak_fp8_flops < self.peak_bf16_flops:
            raise ValueError("peak_fp8 must not be below peak_bf16")
        return self

    @model_validator(mode="after")
    def _settable_cap(self) -> Accelerator:
        if self.power_cap_w is not None and (problem := self.power_cap_problem(self.power_cap_w)):
            raise ValueError(problem)
        return self

    def power_cap_problem(self, cap_w: float) -> str | None:
        """Why `cap_w` cannot be this chip's operating power cap, or None: it needs a TDP, must not exceed it,
        must not fall below the driver's lowest settable limit, and must leave power above the static floor."""
        if self.tdp_w is None:
            return f"power_cap needs the accelerator's tdp ({self.name} has none)"
        if cap_w > self.tdp_w:
            return f"power_cap {cap_w:g} W exceeds {self.name}'s tdp {self.tdp_w:g} W"
        if self.min_power_cap_w is not None and cap_w < self.min_power_cap_w:
            return f"power_cap {cap_w:g} W is below {self.name}'s lowest settable limit {self.min_power_cap_w:g} W"
        if cap_w <= self.static_power_w:
            return (f"power_cap {cap_w:g} W does not exceed {self.name}'s static power {self.static_power_w:g} W "
                    f"(idle_power_fraction x tdp): no clock could run under it")
        return None

    @property
    def static_power_w(self) -> float:
        """Chip power that does not scale with the SM clock (leakage, HBM, I/O): its idle power."""
        return (self.tdp_w or 0.0) * self.idle_power_fraction

    @property
    def full_load_chip_w(self) -> float:
        """Chip power with the tensor cores saturated: its TDP, or its power cap where one is set."""
        if self.tdp_w is None:
            raise ValueError(f"accelerator {self.name} has no tdp")
        return self.tdp_w if self.power_cap_w is None else min(self.tdp_w, self.power_cap_w)

    @property
    def dvfs(self) -> Dvfs:
        """Its voltage-frequency curve and full-load draw (simulator/models/power.py); needs a TDP."""
        if self.tdp_w is None:
            raise ValueError(f"accelerator {self.name} has no tdp")
        return Dvfs(self.tdp_w, self.static_power_w, self.tdp_w * self.full_load_power_fraction,
                    self.voltage_floor, self.voltage_floor_clock)

    @property
    def clock_fraction(self) -> float:
        """Sustained SM clock under full compute load at the power cap, as a fraction of the uncapped one
        (`clock_fraction_at_cap`); 1 without a cap."""
        if self.power_cap_w is None or self.tdp_w is None:
            return 1.0
        return clock_fraction_at_cap(self.power_cap_w, self.dvfs)

    def memory_kind_efficiency(self, kind: MemoryKind | None) -> float:
        """Fraction of HBM bandwidth a memory-bound kernel of `kind` reaches; `memory_efficiency` for none."""
        match kind:
            case None:
                return self.memory_efficiency
            case MemoryKind.STREAMING:
                return self.streaming_efficiency
            case MemoryKind.NORMALISING:
                return self.normalising_efficiency
            case MemoryKind.ACTIVATION:
                return self.activation_efficiency
            case MemoryKind.ROTARY:
                return self.rotary_efficiency
            case MemoryKind.DECODE_ATTENTION:
                return self.decode_attention_efficiency

    def attention_efficiency(self, kernel: AttentionKernel) -> AttentionEfficiency:
        """Fused-attention efficiency of `kernel` on this chip: its own measurement, else flash2's (the kernel a
        chip without `kernel` runs instead), else the schema default."""
        measured = {e.kernel: e for e in self.fused_attention}
        return measured.get(kernel) or measured.get(AttentionKernel.FLASH2) or DEFAULT_ATTENTION

    def peak_flops(self, precision: Precision) -> float | None:
        """Dense tensor peak for `precision`, or None where the chip has no such format."""
        if precision is Precision.FP8:
            return self.peak_fp8_flops
        return self.peak_bf16_flops

    def latest_price(self, kind: PriceKind) -> Price | None:
        """The most recently dated price of `kind` (by the end of its date range), if the catalog has one."""
        offers = [p for p in self.prices if p.kind is kind]
        return max(offers, key=lambda p: p.date.split("..")[-1]) if offers else None

    def power_w(self, busy_fraction: float) -> float:
        """Wall power per chip including its share of the server, between idle and full load (its TDP, or its
        power cap: a capped chip never draws more than the cap)."""
        if self.tdp_w is None:
            raise ValueError(f"accelerator {self.name} has no tdp")
        full_load = self.full_load_chip_w / self.tdp_w  # 1.0 exactly without a cap
        chip_w = self.tdp_w * (self.idle_power_fraction + (full_load - self.idle_power_fraction) * busy_fraction)
        return chip_w * self.server_power_overhead
