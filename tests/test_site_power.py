"""Site power budget (docs/fleets.md): policy cap's choice (simulator/models/power.py site_cap, applied by
simulator/plan/site_power.py), policy queue's admission (simulator/engine/site_power.py through the Cluster hook),
located errors for budgets that cannot be kept, the power series against the report's energy, and the shipped
50 MW scenario's figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.cluster import Cluster
from simulator.engine.site_power import SiteAdmission
from simulator.models.power import PoolDraw, facility_w, site_cap
from simulator.plan.load import load_scenario, load_text
from simulator.plan.site_power import site_plan
from simulator.report.html import report_html
from simulator.report.tables import series_table
from simulator.run import simulate
from simulator.scenario.loader import ScenarioError
from simulator.units import JOULES_PER_KWH
from tests.conftest import ROOT

TWO_JOBS = """
name: two-jobs
seed: 3
cluster:
  accelerator: a100-80gb-sxm
  nodes: 4
  gpus_per_node: 8
  topology: {kind: fat_tree, nic_bandwidth: 200 Gbps, oversubscription: 1}
{site}
pricing: {gpu_hour_usd: 1.8, electricity_usd_per_kwh: 0.08, pue: 1.2}
workloads:
  - {name: first, kind: training, model: gpt3-1.3b, tokens: 5B, seq_len: 2048, global_batch_tokens: 1M,
     parallelism: {dp: 16}}
  - {name: second, kind: training, model: gpt3-1.3b, tokens: 5B, seq_len: 2048, global_batch_tokens: 1M,
     parallelism: {dp: 16}}
"""


def two_jobs(site: str = "") -> str:
    return TWO_JOBS.replace("{site}", f"  site_power: {site}" if site else "")


POOLS = st.lists(st.builds(
    lambda gpus, tdp, low, high, server: PoolDraw(gpus, tdp, low * tdp, max(low, high) * tdp, server),
    st.integers(1, 10_000), st.floats(100.0, 1500.0), st.floats(0.2, 0.5), st.floats(0.5, 1.0), st.floats(1.0, 2.5)),
    min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(POOLS, st.floats(0.0, 1e6), st.floats(1.0, 2.0), st.floats(1e3, 5e7))
def test_the_chosen_cap_fits_the_budget_and_is_the_highest_that_does(pools: list[PoolDraw], network_w: float,
                                                                     pue: float, budget_w: float) -> None:
    chosen = site_cap(pools, network_w, pue, budget_w)
    if chosen is None:
        assert facility_w(pools, 0.0, network_w, pue) > budget_w  # even the lowest caps do not fit
        return
    assert chosen.facility_w <= budget_w * (1 + 1e-12)
    for pool, cap in zip(pools, chosen.caps_w, strict=True):
        assert pool.lowest_cap_w <= cap <= pool.highest_cap_w
        if pool.lowest_cap_w < cap < pool.highest_cap_w:
            assert cap == pytest.approx(chosen.fraction * pool.tdp_w)  # the same fraction of every TDP
    if chosen.fraction < 1.0:
        assert facility_w(pools, chosen.fraction + 1e-9, network_w, pue) > budget_w * (1 - 1e-9) or all(
            pool.cap_w(chosen.fraction) == pool.highest_cap_w for pool in pools)


def test_a_users_lower_cap_stays_and_leaves_the_rest_a_higher_fraction() -> None:
    free = PoolDraw(100, 700.0, 200.0, 700.0, 1.8)
    held = PoolDraw(100, 700.0, 200.0, 300.0, 1.8)
    both_free = site_cap([free, free], 0.0, 1.0, 150_000.0)
    one_held = site_cap([free, held], 0.0, 1.0, 150_000.0)
    assert both_free is not None and one_held is not None
    assert one_held.caps_w[1] == 300.0
    assert one_held.fraction > both_free.fraction
    assert one_held.facility_w == pytest.approx(150_000.0)


def test_policy_cap_holds_every_gpu_to_the_chosen_cap_and_slows_the_step() -> None:
    base = simulate(load_text(two_jobs(), "two.yaml"))
    capped = simulate(load_text(two_jobs("{budget: 25 kW, policy: cap}"), "two.yaml"))
    site = capped.cluster.site_power
    assert site is not None and site.cap_fraction is not None and site.caps_w["default"] is not None
    assert 0.5 < site.cap_fraction < 1.0
    assert site.caps_w["default"] == pytest.approx(site.cap_fraction * 400.0)
    assert site.full_load_w == pytest.approx(25_000.0) and site.uncapped_full_load_w > 25_000.0
    assert site.peak_facility_w <= 25_000.0
    for name in ("first", "second"):
        assert capped.workloads[name].step_time_s > base.workloads[name].step_time_s
    assert capped.cluster.energy_kwh < base.cluster.energy_kwh  # both jobs run at once in both runs


def test_a_budget_the_site_fits_uncapped_sets_no_cap_and_changes_nothing() -> None:
    base = simulate(load_text(two_jobs(), "two.yaml"))
    roomy = simulate(load_text(two_jobs("{budget: 1 MW, policy: cap}"), "two.yaml"))
    assert roomy.cluster.site_power is not None and roomy.cluster.site_power.cap_fraction == 1.0
    assert roomy.cluster.site_power.caps_w == {"default": None}
    assert roomy.workloads["first"].step_time_s == base.workloads["first"].step_time_s
    assert roomy.cluster.energy_kwh == base.cluster.energy_kwh


def test_without_site_power_the_report_has_no_power_fields() -> None:
    data = json.loads(simulate(load_text(two_jobs(), "two.yaml")).model_dump_json())
    assert "site_power" not in data["cluster"]
    assert "it_power_w" not in data["series"] and "facility_power_w" not in data["series"]


def test_policy_queue_holds_the_second_job_until_the_first_gives_its_power_back() -> None:
    report = simulate(load_text(two_jobs("{budget: 28 kW, policy: queue}"), "two.yaml"))
    site = report.cluster.site_power
    assert site is not None and site.cap_fraction is None and site.caps_w == {"default": None}
    assert site.power_waits == 1
    first, second = report.workloads["first"], report.workloads["second"]
    assert first.step_time_s == second.step_time_s  # no caps: full speed
    assert site.max_power_wait_s == pytest.approx(site.mean_power_wait_s)
    assert site.max_power_wait_s == pytest.approx(report.simulated_s / 2, rel=0.05)  # the jobs run one after another
    assert site.peak_facility_w <= 28_000.0
    both = simulate(load_text(two_jobs("{budget: 40 kW, policy: queue}"), "two.yaml"))
    assert both.cluster.site_power is not None and both.cluster.site_power.power_waits == 0
    assert both.simulated_s < report.simulated_s


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.booleans()), min_size=1, max_size=30), st.floats(1e4, 2e5))
def test_admission_never_commits_more_than_the_budget(requests: list[tuple[int, bool]], budget_w: float) -> None:
    admission = SiteAdmission(budget_w, 1.25, 64 * 100.0 + 500.0, 100.0, 1000.0)
    held: list[int] = []
    for order, (count, release) in enumerate(requests):
        if release and held:
            admission.release(held.pop(0))
        if admission.fits(order, count, None, float(order)):
            admission.start(order, order, count, None, float(order))
            held.append(order)
        assert admission.committed_w <= budget_w * (1 + 1e-9) or not held
    assert admission.peak_committed_w <= budget_w * (1 + 1e-9)
    assert all(w >= 0 for w in admission.waiting_s(float(len(requests))))


def test_impossible_budgets_are_located_errors() -> None:
    with pytest.raises(ScenarioError, match=r"two.yaml:\d+: cluster.site_power.budget: .*no cap fits"):
        load_text(two_jobs("{budget: 5 kW, policy: cap}"), "two.yaml")
    with pytest.raises(ScenarioError, match=r"two.yaml:\d+: cluster.site_power.budget: .*wait for ever"):
        load_text(two_jobs("{budget: 20 kW, policy: queue}"), "two.yaml")
    with pytest.raises(ScenarioError, match=r"two.yaml:\d+: cluster.site_power.budget: .*nothing could start"):
        load_text(two_jobs("{budget: 5 kW, policy: queue}"), "two.yaml")
    with pytest.raises(ScenarioError, match=r"site_power\.policy"):
        load_text(two_jobs("{budget: 5 kW, policy: shed}"), "two.yaml")


@pytest.mark.parametrize("site", ["{}", "{budget: 25 kW, policy: cap}", "{budget: 28 kW, policy: queue}"])
def test_the_power_series_integrates_to_the_reports_energy(site: str) -> None:
    """The sampled facility power (trapezoid over the samples) against the energy the accounts close with: within
    1 % (the samples miss only the instants between them where a job starts, ends or checkpoints)."""
    report = simulate(load_text(two_jobs(site), "two.yaml"))
    series = report.series
    assert series.facility_power_w is not None and series.it_power_w is not None
    assert len(series.facility_power_w) == len(series.time_s)
    sampled_kwh = float(np.trapezoid(series.facility_power_w, series.time_s)) / JOULES_PER_KWH
    assert sampled_kwh == pytest.approx(report.cluster.energy_kwh, rel=0.01)
    assert report.cluster.site_power is not None
    mean_w = report.cluster.energy_kwh * JOULES_PER_KWH / report.simulated_s
    assert report.cluster.site_power.mean_facility_w == pytest.approx(mean_w)
    assert min(series.facility_power_w) <= mean_w <= report.cluster.site_power.peak_facility_w * (1 + 1e-12)


def test_the_run_page_plots_power_against_the_budget() -> None:
    page = report_html(simulate(load_text(two_jobs("{budget: 25 kW, policy: cap}"), "two.yaml")))
    assert "Power over time, GPUs capped at 70% of TDP" in page and "site budget (0.025 MW)" in page
    assert "peak 0.02 MW, mean 0.02 MW at the meter; budget 0.025 MW, policy cap" in page
    plain = report_html(simulate(load_text(two_jobs(), "two.yaml")))
    assert "Power over time" not in plain and "site power" not in plain


def test_pools_get_the_same_fraction_of_their_own_tdp() -> None:
    text = two_jobs("{budget: 30 kW, policy: cap}").replace("""  accelerator: a100-80gb-sxm
  nodes: 4
  gpus_per_node: 8
""", """  pools:
    - {name: old, accelerator: a100-80gb-sxm, nodes: 2, gpus_per_node: 8}
    - {name: new, accelerator: h100-sxm, nodes: 2, gpus_per_node: 8}
""")
    plan = site_plan(load_text(text, "pools.yaml"))
    assert plan is not None and plan.fraction is not None and plan.fraction < 1.0
    assert plan.caps_w["old"] == pytest.approx(plan.fraction * 400.0)
    assert plan.caps_w["new"] == pytest.approx(plan.fraction * 700.0)
    assert plan.facility_w == pytest.approx(30_000.0)
    pools = plan.scenario.cluster.pool_specs
    assert [p.accelerator.power_cap_w for p in pools] == [plan.caps_w["old"], plan.caps_w["new"]]
    assert plan.scenario.cluster.accelerator.power_cap_w == plan.caps_w["old"]


def test_the_50_mw_scenario_caps_at_497_w_and_trades_13_percent_of_speed_for_15_percent_of_energy() -> None:
    """The figures its comment states, against the same site with no binding budget."""
    path = ROOT / "scenarios" / "fleets" / "llama3-405b-50mw.yaml"
    capped = simulate(load_scenario(path))
    free = simulate(load_scenario(path, ["cluster.site_power.budget=1 GW"]))
    site = capped.cluster.site_power
    assert site is not None and site.caps_w["default"] is not None
    assert site.uncapped_full_load_w > 50e6 >= site.full_load_w
    assert site.caps_w["default"] == pytest.approx(497.0, abs=1.0)
    slowdown = capped.workloads["llama3-405b"].step_time_s / free.workloads["llama3-405b"].step_time_s
    saved = 1 - capped.cluster.energy_kwh / free.cluster.energy_kwh
    assert slowdown == pytest.approx(1.13, abs=0.01)
    assert saved == pytest.approx(0.15, abs=0.01)
    assert site.peak_facility_w <= 50e6 and not math.isnan(site.mean_facility_w)


def test_the_cluster_hook_admits_by_the_watts_a_request_names_and_frees_them_on_release() -> None:
    """Two 8-GPU requests on a 16-GPU cluster whose budget holds one at 1 kW per GPU: the second, naming 1 kW, waits
    for the first to release; a request naming 300 W per GPU fits beside it at once."""
    env = simpy.Environment()
    admission = SiteAdmission(budget_w=16 * 100.0 + 8 * 900.0 + 10.0, pue=1.0, base_w=16 * 100.0, idle_w=100.0,
                              full_load_w=1000.0)
    cluster = Cluster(env, 2, 8, site_power=admission)
    first = cluster.request(8, watts_per_gpu=1000.0)
    second = cluster.request(8)  # the site's full-load figure, 1 kW
    assert first.triggered and not second.triggered and admission.blocked_since == {1: 0.0}

    def later() -> simpy.events.ProcessGenerator:
        yield env.timeout(5.0)
        cluster.release(first.value)
    env.process(later())
    env.run()
    assert second.triggered and admission.waits_s == [5.0]
    cluster.release(second.value)
    light = Cluster(simpy.Environment(), 2, 8, site_power=SiteAdmission(16 * 100.0 + 8 * 900.0 + 8 * 200.0 + 10.0,
                                                                          1.0, 16 * 100.0, 100.0, 1000.0))
    assert light.request(8).triggered and light.request(8, watts_per_gpu=300.0).triggered


def test_the_power_series_are_exported_with_the_others() -> None:
    report = simulate(load_text(two_jobs("{}"), "two.yaml"))
    table = series_table(report)
    rows = [i for i, name in enumerate(table["series"]) if name == "facility_power_w"]
    assert len(rows) == len(report.series.time_s)
    assert [table["value"][i] for i in rows] == report.series.facility_power_w
