"""Training and serving across pools of different generations against what heterogeneity-aware systems publish
(simulator/catalog/published_heterogeneous.yaml): the aware split's gain over a uniform one falls in Metis's
range and under the slowdown a heterogeneity-aware simulator reports for uniform placement; mixed pools reach
about the MFU of homogeneous GPUs of equal peak (HexiScale); the chip ratios behind Splitwise's H100/A100 split
are the catalog's. The published figures are ranges, so these are range checks, stated as such."""

from __future__ import annotations

import pytest
import yaml

from benchmarks import fleet_mix
from simulator.catalog import CATALOG_DIR, accelerator
from simulator.models.hardware import Precision
from simulator.report.model import TrainingReport

PUBLISHED = yaml.safe_load((CATALOG_DIR / "published_heterogeneous.yaml").read_text(encoding="utf-8"))
FIGURES = {row["id"]: row for rows in (PUBLISHED["training"], PUBLISHED["serving"]) for row in rows}

@pytest.fixture(scope="module", params=fleet_mix.PAIRS, ids=lambda p: f"{p[0]}+{p[1]}:{p[2]}")
def runs(request: pytest.FixtureRequest) -> dict[str, TrainingReport]:
    return fleet_mix.mix_runs(*request.param)


def test_the_aware_split_gains_what_metis_reports_and_a_uniform_one_loses_at_most_4x(
        runs: dict[str, TrainingReport]) -> None:
    gain = (runs["even"].step_time_s or 0) / (runs["balanced"].step_time_s or 1)
    metis = FIGURES["metis-aware-over-unaware"]
    assert metis["low"] <= gain <= metis["high"]
    assert gain <= FIGURES["uniform-placement-slowdown"]["high"]


def test_mixed_pools_reach_about_the_mfu_of_homogeneous_gpus(runs: dict[str, TrainingReport]) -> None:
    """HexiScale compares mixed GPUs with homogeneous high-end GPUs of equal total peak: MFU (over each run's own
    peak) within 11.6 % at its worst published gap. The fast pool alone stands in for the homogeneous run."""
    gap = abs((runs["balanced"].mfu or 0) - (runs["fast"].mfu or 0)) / (runs["fast"].mfu or 1)
    assert gap <= FIGURES["hexiscale-mfu-gap"]["high"]


def test_adding_the_slower_pool_speeds_the_step_up(runs: dict[str, TrainingReport]) -> None:
    assert (runs["balanced"].step_time_s or 0) < (runs["fast"].step_time_s or 0)


def test_the_catalog_has_splitwise_s_h100_over_a100_ratios() -> None:
    h100, a100 = accelerator("h100-sxm"), accelerator("a100-80gb-sxm")
    row = FIGURES["splitwise-h100-over-a100"]
    bandwidth = h100.hbm_bandwidth_bytes_per_s / a100.hbm_bandwidth_bytes_per_s
    assert bandwidth == pytest.approx(row["hbm_bandwidth"], abs=0.01)
    assert (h100.tdp_w or 0) / (a100.tdp_w or 1) == pytest.approx(row["power"], abs=0.01)
    assert (h100.peak_flops(Precision.BF16) or 0) > 3 * (a100.peak_flops(Precision.BF16) or 1)
