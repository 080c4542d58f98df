"""Built-in catalog: every entry loads and is sourced, model shapes reproduce their published parameter
counts, and accelerator figures agree with the shared reference's accelerators.yaml (tests/data/reference)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.catalog import accelerators, models
from simulator.models.hardware import PriceKind
from simulator.models.workload.transformer import parameter_counts
from tests.conftest import data_file

REPO = Path(__file__).resolve().parents[1]

# catalog name -> reference id
REFERENCE_IDS = {
    "a100-40gb-sxm": "nvidia_a100_40gb_sxm",
    "a100-80gb-sxm": "nvidia_a100_80gb_sxm",
    "h100-sxm": "nvidia_h100_sxm",
    "h100-pcie": "nvidia_h100_pcie",
    "h800-sxm": "nvidia_h800_sxm",
    "h200-sxm": "nvidia_h200_sxm",
    "b200": "nvidia_b200_hgx",
    "gb200": "nvidia_gb200_per_gpu",
    "mi250x": "amd_mi250x",
    "mi300x": "amd_mi300x",
    "mi325x": "amd_mi325x",
    "mi355x": "amd_mi355x",
    "gaudi2": "intel_gaudi2",
    "gaudi3": "intel_gaudi3",
    "tpu-v4": "google_tpu_v4",
    "tpu-v5e": "google_tpu_v5e",
    "tpu-v5p": "google_tpu_v5p",
    "tpu-v6e": "google_tpu_v6e",
    "trainium1": "aws_trainium1",
    "trainium2": "aws_trainium2",
    "cerebras-wse3": "cerebras_cs3_wse3",
}
# sourced in the catalog itself; the shared reference has no row for them
NOT_IN_REFERENCE = {"v100-sxm2-32gb"}
TOLERANCE = 0.03  # published counts are rounded (e.g. "1.3B"); 3% covers the rounding, not a wrong shape


def test_catalog_holds_the_expected_entries() -> None:
    assert set(accelerators()) == set(REFERENCE_IDS) | NOT_IN_REFERENCE
    expected_models = {
        "bloom-176b",
        "gpt3-125m", "gpt3-350m", "gpt3-760m", "gpt3-1.3b", "gpt3-2.7b", "gpt3-6.7b", "gpt3-13b", "gpt3-175b",
        "llama2-7b", "llama2-70b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "mixtral-8x7b",
        "deepseek-v3",
        "megatron-1.7b", "megatron-7.5b", "megatron-39.1b", "megatron-145.6b", "megatron-529.6b",
        "megatron-22b", "megatron-174.6b", "megatron-1t",
    }
    assert set(models()) == expected_models


@pytest.mark.parametrize("table", [accelerators, models], ids=["accelerators", "models"])
def test_every_entry_is_sourced(table: Callable[[], Mapping[str, Any]]) -> None:
    unsourced = [name for name, entry in table().items() if not entry.sources]
    assert not unsourced


@pytest.mark.parametrize("name", sorted(models()))
def test_shape_reproduces_published_parameter_count(name: str) -> None:
    m = models()[name]
    assert m.published_params is not None, f"{name} has no published_params to check its shape against"
    counts = parameter_counts(m)
    assert counts.total == pytest.approx(m.published_params, rel=TOLERANCE)
    if m.is_moe:
        assert m.published_active_params is not None, f"MoE model {name} needs published_active_params"
        assert counts.active == pytest.approx(m.published_active_params, rel=TOLERANCE)
        assert counts.active < counts.total


def _reference() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(data_file("reference", "accelerators.yaml").read_text(encoding="utf-8"))
    return {row["id"]: row for row in data["accelerators"]}


def _agrees(value: float | None, reference: float | None, scale: float) -> None:
    """Catalog value (SI) equals the reference figure times `scale` within 0.5%; null stays null."""
    if reference is None:
        assert value is None
    else:
        assert value == pytest.approx(reference * scale, rel=0.005)


@pytest.mark.parametrize("name", sorted(REFERENCE_IDS))
def test_accelerator_figures_match_reference(name: str) -> None:
    ref = _reference()[REFERENCE_IDS[name]]
    acc = accelerators()[name]
    _agrees(acc.peak_bf16_flops, ref["peak_bf16_tflops"], 1e12)
    _agrees(acc.hbm_bandwidth_bytes_per_s, ref["hbm_tbps"], 1e12)
    _agrees(acc.tdp_w, ref.get("tdp_w"), 1.0)
    _agrees(acc.scale_up_bandwidth_bytes_per_s, ref.get("scaleup_gbps_unidir"), 1e9)
    _agrees(acc.nic_bandwidth_bytes_per_s, ref.get("nic_gbps"), 1e9 / 8)
    # the reference's hbm_gb is GiB for some TPU/Trainium rows, so accept either reading
    assert any(acc.hbm_bytes == pytest.approx(ref["hbm_gb"] * unit, rel=0.005) for unit in (1e9, 2**30))
    assert acc.status.value == ref["status"]


def test_kernel_parameters_are_the_fit_of_the_benchmark_script() -> None:
    """The catalog's A100/H100 roofline parameters are what benchmarks/fit_kernel_model.py fits."""
    spec = importlib.util.spec_from_file_location("fit", REPO / "benchmarks" / "fit_kernel_model.py")
    assert spec is not None and spec.loader is not None
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    acc = accelerators()
    for gpu, names in {"a100": ("a100-40gb-sxm", "a100-80gb-sxm"),
                       "h100": ("h100-sxm", "h800-sxm", "h200-sxm")}.items():
        fitted = fit.fit(data_file("vidur-profiles", "compute"), gpu)
        for name in names:
            stored = {key: getattr(acc[name], key) for key in fitted}
            assert stored == pytest.approx(fitted), name


def test_prices_are_dated_sourced_and_match_the_reference() -> None:
    """Every price cites a source the catalog names (the reference costs, Epoch's prices, or the spot prices'
    pages); H100 and A100 entries carry the dated list prices of costs.yaml."""
    acc = accelerators()
    catalog = Path(__file__).resolve().parents[1] / "simulator" / "catalog" / "accelerators.yaml"
    named = set(yaml.safe_load(catalog.read_text(encoding="utf-8"))["sources"])
    for entry in acc.values():
        for price in entry.prices:
            assert price.source.split(":", 1)[0] in named, (entry.name, price.offer)
    spot_sources = {p.source.split(":", 1)[0] for e in acc.values() for p in e.prices if p.kind is PriceKind.SPOT}
    assert spot_sources == {"gcp_billing_2026", "costnimbus_2026", "deploybase_2026"}
    h100 = {(p.offer, p.kind.value): p.usd for p in acc["h100-sxm"].prices}
    assert h100[("AWS p5 H100", "on_demand")] == 12.29
    assert h100[("GCP a3-highgpu H100", "three_year")] == 4.86
    costs = data_file("reference", "costs.yaml")
    listed = {row["offer"]: row for row in yaml.safe_load(costs.read_text())["prices_usd_per_gpu_hour"]}
    for entry in acc.values():
        for price in entry.prices:
            row = listed.get(price.offer)
            if row is not None and isinstance(row.get(price.kind.value), float):
                assert row[price.kind.value] == price.usd, (entry.name, price.offer)


def test_latest_price_picks_the_newest_offer() -> None:
    latest = accelerators()["h100-sxm"].latest_price(PriceKind.ON_DEMAND)
    assert latest is not None and latest.date == "2026-02"
    assert accelerators()["h800-sxm"].latest_price(PriceKind.ON_DEMAND) is None
