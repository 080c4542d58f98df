"""Training and serving across pools of different generations against what heterogeneity-aware systems publish
(simulator/catalog/published_heterogeneous.yaml): the aware split's gain over a uniform one falls in Metis's
range and under the slowdown a heterogeneity-aware simulator reports for uniform placement; mixed pools reach
about the MFU of homogeneous GPUs of equal peak (HexiScale); the chip ratios behind Splitwise's H100/A100 split
are the catalog's. The published figures are ranges, so these are range checks, stated as such."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

import simulator as cs
from simulator.catalog import CATALOG_DIR, accelerator
from simulator.models.hardware import Precision
from simulator.report.model import TrainingReport

PUBLISHED = yaml.safe_load((CATALOG_DIR / "published_heterogeneous.yaml").read_text(encoding="utf-8"))
FIGURES = {row["id"]: row for rows in (PUBLISHED["training"], PUBLISHED["serving"]) for row in rows}

MIX = """
name: mix
cluster:
  pools:
    - {{name: fast, accelerator: {fast}, nodes: 8, gpus_per_node: 8}}
    - {{name: slow, accelerator: {slow}, nodes: 8, gpus_per_node: 8}}
pricing: {{gpu_hour_usd: 2}}
workloads:
  - name: train
    kind: training
    model: {model}
    tokens: 1B
    seq_len: 4096
    global_batch_size: 1024
    pools: {{fast: 64, slow: 64}}
    parallelism: {{tp: 8, pp: {pp}, dp: {dp}, zero_stage: 1, activation_recompute: selective}}
"""
PAIRS = [("h100-sxm", "a100-80gb-sxm", "llama3.1-8b", 1), ("a100-80gb-sxm", "v100-sxm2-32gb", "llama2-7b", 1),
         ("h100-sxm", "a100-80gb-sxm", "llama3.1-70b", 2)]


def _train(text: str, **changes: Any) -> TrainingReport:
    report = cs.simulate(cs.load(text, changes)).workloads["train"]
    assert isinstance(report, TrainingReport) and report.step_time_s is not None
    return report


@pytest.fixture(scope="module", params=PAIRS, ids=lambda p: f"{p[0]}+{p[1]}:{p[2]}")
def runs(request: pytest.FixtureRequest) -> dict[str, TrainingReport]:
    fast, slow, model, pp = request.param
    text = MIX.format(fast=fast, slow=slow, model=model, pp=pp, dp=16 // pp)
    return {"balanced": _train(text), "even": _train(text, **{"workloads.train.batch_split": "even"}),
            "fast": _train(text, **{"workloads.train.pools": {"fast": 64}, "workloads.train.parallelism.dp": 8 // pp})}


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
