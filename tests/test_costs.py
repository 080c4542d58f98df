"""Cost, energy and carbon: the published energy cases reproduced from their stated assumptions (within
2 %), ownership amortization, rental prices from the catalog, the power model by state, network power, and
cost breakdowns that add up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from simulator.catalog import CATALOG_DIR, accelerator
from simulator.models.cost import Amortization, PowerModel, network_power_w, owned_gpu_hour_usd
from simulator.plan.load import load_scenario
from simulator.report.model import InferenceReport, TrainingReport
from simulator.run import simulate
from tests.conftest import ROOT, data_file

CASES = yaml.safe_load((CATALOG_DIR / "published_costs.yaml").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_published_energy_and_carbon_within_2_percent(case: dict[str, object]) -> None:
    report = simulate(load_scenario(ROOT / str(case["scenario"])))
    published = case["published"]
    assert isinstance(published, dict)
    assert report.cluster.energy_kwh == pytest.approx(published["energy_kwh"], rel=0.02)
    tco2e = published.get("tco2e", published.get("tco2e_dynamic"))
    assert report.cluster.carbon_tco2e == pytest.approx(tco2e, rel=0.02)


def test_extract_matches_the_shared_reference() -> None:
    shared = yaml.safe_load(data_file("reference", "costs.yaml").read_text(encoding="utf-8"))
    reference = {c["id"]: c for c in shared["cases"]}
    for case in CASES:
        ref = reference[case["id"]]
        assert case["setup"] == ref["setup"]
        published = dict(ref["published"])
        if "energy_mwh" in published:
            published["energy_kwh"] = published.pop("energy_mwh") * 1000
        assert case["published"] == published


def test_ownership_is_amortized_straight_line_or_at_epoch_s_rate() -> None:
    # $30,000 GPU, server x1.64, network 19 % of the cluster: $60,741 of capital per GPU
    straight = owned_gpu_hour_usd(30_000, 1.64, 0.19, Amortization.STRAIGHT_LINE, 4)
    assert straight == pytest.approx(30_000 * 1.64 / 0.81 / (4 * 8766))  # $1.73 per GPU-hour
    epoch = owned_gpu_hour_usd(30_000, 1.64, 0.19, Amortization.EPOCH, 4)
    assert epoch == pytest.approx(30_000 * 1.64 / 0.81 * 0.322 / 8766)  # years do not matter to it
    with pytest.raises(ValueError):
        owned_gpu_hour_usd(30_000, 0.5, 0.19, Amortization.EPOCH, 4)


def test_power_by_state_and_the_network() -> None:
    h100 = accelerator("h100-sxm")
    power = PowerModel.of(h100, communicating_load=0.3, down_w=0.0)
    assert power.computing_w == pytest.approx(700 * 1.82)
    assert power.idle_w == pytest.approx(700 * 0.2 * 1.82)
    assert power.idle_w < power.communicating_w < power.computing_w
    assert power.step_w(3.0, 4.0) == pytest.approx(0.75 * power.computing_w + 0.25 * power.communicating_w)
    fixed = PowerModel.of(h100, 0.3, 0.0, average_w=330.0)
    assert fixed.computing_w == fixed.idle_w == fixed.step_w(1.0, 3.0) == 330.0
    # 2 switches, and 400G and 800G links: one and two transceivers at each end
    assert network_power_w(2, [400.0, 800.0], 750.0, 9.0) == pytest.approx(2 * 750 + (2 + 4) * 9)


def test_rental_and_ownership_prices_come_from_the_catalog(tmp_path: Path) -> None:
    base = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8"))
    cases = {
        "on_demand": {"rental": "on_demand"},
        "spot": {"rental": "spot"},
        "owned": {"ownership": {"amortization": "epoch"}, "electricity_usd_per_kwh": 0.08},
    }
    rates = {}
    for label, pricing in cases.items():
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump(base | {"pricing": pricing}), encoding="utf-8")
        report = simulate(load_scenario(path))
        rates[label] = report.cluster.gpu_hour_usd
        assert report.cluster.rental_usd == pytest.approx(report.cluster.gpu_hours * rates[label])
    assert rates["on_demand"] == 2.7  # CoreWeave A100-80GB, 2026-02, the latest dated on-demand price
    assert rates["spot"] == 0.59  # RunPod A100 SXM spot, 2026-03, the only spot price
    assert rates["owned"] == pytest.approx(17349 * 1.64 / 0.81 * 0.322 / 8766)
    missing = tmp_path / "one_year.yaml"
    missing.write_text(yaml.safe_dump(base | {"pricing": {"rental": "one_year"}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(missing)])
    assert result.exit_code == 2 and "pricing.rental: the catalog has no one_year price" in result.stderr
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump(base | {"pricing": {"gpu_hour_usd": 2, "rental": "on_demand"}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(both)])
    assert result.exit_code == 2 and "give exactly one of gpu_hour_usd, rental or ownership" in result.stderr


@pytest.mark.parametrize("name", ["llama3-405b-failures.yaml", "serve-llama70b-azure-conv.yaml"])
def test_cost_breakdowns_add_up(name: str) -> None:
    report = simulate(load_scenario(ROOT / "scenarios" / name))
    parts = [report.cluster, *report.workloads.values()]
    for part in parts:
        b = part.cost_breakdown
        assert b.useful_usd + b.checkpoint_usd + b.failure_usd + b.idle_usd + b.energy_usd == pytest.approx(
            part.cost_usd, rel=1e-9)
        assert part.carbon_tco2e is None  # no carbon intensity given: not set, not 0
    c = report.cluster
    assert c.energy_kwh == pytest.approx(c.gpu_energy_kwh + c.network_energy_kwh)
    assert c.network_power_w > 0
    for workload in report.workloads.values():
        if isinstance(workload, TrainingReport):  # failures cost money; checkpoints too
            assert workload.cost_breakdown.failure_usd > 0 and workload.cost_breakdown.checkpoint_usd > 0
        else:
            assert isinstance(workload, InferenceReport)
            assert workload.cost_breakdown.failure_usd == 0
