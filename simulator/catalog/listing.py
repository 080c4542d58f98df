"""The catalogs as rows of plain values, for `clustersim catalog` tables and their --json form."""

from __future__ import annotations

from typing import Any

from simulator import catalog
from simulator.models.hardware import Price, PriceKind
from simulator.models.workload.transformer import parameter_counts


def _per(value: float | None, scale: float) -> float | None:
    return None if value is None else round(value / scale, 3)


def _usd(price: Price | None) -> float | None:
    return None if price is None else price.usd


def accelerator_rows() -> list[dict[str, Any]]:
    """One row per accelerator, each column in the unit its name ends with: TFLOP/s, GiB (2**30 bytes: the
    catalog gives NVIDIA's A100/H100/H800 memory as the driver reports it, 81920 MiB for the A100 80GB, others
    as the vendor's "GB"), TB/s, GB/s, Gbit/s, W, USD."""
    return [
        {
            "name": a.name, "vendor": a.vendor, "year": a.launch_year,
            "bf16_tflops": _per(a.peak_bf16_flops, 1e12), "fp8_tflops": _per(a.peak_fp8_flops, 1e12),
            "hbm_gib": _per(a.hbm_bytes, 2**30), "hbm_tb_per_s": _per(a.hbm_bandwidth_bytes_per_s, 1e12),
            "scale_up_gb_per_s": _per(a.scale_up_bandwidth_bytes_per_s, 1e9),
            "nic_gbps": _per(a.nic_bandwidth_bytes_per_s, 0.125e9), "tdp_w": a.tdp_w,
            "matmul_efficiency": a.matmul_efficiency,
            "on_demand_usd_per_h": _usd(a.latest_price(PriceKind.ON_DEMAND)),
            "purchase_usd": _usd(a.latest_price(PriceKind.PURCHASE)), "status": a.status.value,
        }
        for a in catalog.accelerators().values()
    ]


def model_rows() -> list[dict[str, Any]]:
    """One row per model with its shape (counts) and exact parameter counts in billions."""
    rows = []
    for m in catalog.models().values():
        counts = parameter_counts(m)
        rows.append({
            "name": m.name, "family": m.family, "layers": m.layers, "hidden": m.hidden, "heads": m.heads,
            "kv_heads": m.kv_heads_, "ffn_hidden": m.ffn_hidden_, "vocab": m.vocab,
            "experts": f"{m.top_k}/{m.experts}" if m.is_moe else "-",
            "params_billions": round(counts.total / 1e9, 3),
            "active_params_billions": round(counts.active / 1e9, 3),
        })
    return rows
