"""Mixed fleets: `cluster.pools` in the schema and the checks, allocations bound to pools in the engine, the
balanced and even micro-batch splits of a job across pools, per-pool pricing of training and serving, and the
report's per-pool figures summing to the cluster's."""

from __future__ import annotations

import itertools
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator as cs
from simulator.engine.cluster import Cluster
from simulator.models.workload.split import balanced_split, even_split
from simulator.plan.pools import Shares, allocation_options
from simulator.plan.training import fits_memory, training_plan
from simulator.report.model import InferenceReport

MIXED = """
name: mixed
cluster:
  pools:
    - {name: h100, accelerator: h100-sxm, nodes: 4, gpus_per_node: 8}
    - {name: a100, accelerator: a100-80gb-sxm, nodes: 4, gpus_per_node: 8, gpu_hour_usd: 1.2}
pricing: {gpu_hour_usd: 2.5, electricity_usd_per_kwh: 0.1}
workloads:
  - name: train
    kind: training
    model: llama3.1-8b
    tokens: 2B
    seq_len: 8192
    global_batch_size: 512
    pools: {h100: 32, a100: 32}
    parallelism: {tp: 8, dp: 8, zero_stage: 1}
"""


def _load(text: str = MIXED, **changes: Any) -> cs.Scenario:
    return cs.load(text, changes)


def _problems(text: str, **changes: Any) -> str:
    with pytest.raises(cs.ScenarioError) as caught:
        cs.load(text, changes)
    return str(caught.value)


# --- schema and checks ---------------------------------------------------------------------------------------

def test_the_old_form_is_one_pool_named_default() -> None:
    scenario = cs.load("scenarios/quickstart.yaml")
    (pool,) = scenario.cluster.pool_specs
    assert (pool.name, pool.nodes, pool.gpus_per_node) == ("default", scenario.cluster.nodes,
                                                           scenario.cluster.gpus_per_node)
    assert pool.accelerator == scenario.cluster.accelerator
    assert scenario.cluster.view("anything") is scenario.cluster


def test_pools_fill_the_cluster_and_views_carry_each_accelerator() -> None:
    cluster = _load().cluster
    assert (cluster.nodes, cluster.gpus_per_node, cluster.gpus) == (8, 8, 64)
    assert cluster.accelerator.name == "h100-sxm"
    assert cluster.view("a100").accelerator.name == "a100-80gb-sxm"
    assert cluster.view("a100").pools == cluster.pools
    assert [cluster.first_node(i) for i in range(2)] == [0, 4]


def test_a_scenario_with_pools_round_trips_through_its_own_dump() -> None:
    scenario = _load()
    assert cs.load(scenario, {"seed": 5}).cluster == scenario.cluster  # re-validated from its dump
    assert cs.load(scenario.model_dump(mode="json", by_alias=True)).cluster == scenario.cluster
    assert "nodes" not in scenario.model_dump(by_alias=True)["cluster"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"cluster.pools.a100.gpus_per_node": 4}, "cluster: pools must share gpus_per_node (got 4, 8)"),
    ({"cluster.pools.a100.name": "h100"}, "pool names must be unique (repeated: h100)"),
    ({"cluster.pools.a100.rental": "three_year", "cluster.pools.a100.gpu_hour_usd": None},
     "cluster.pools.a100.rental: the catalog has no three_year price for a100-80gb-sxm"),
    ({"cluster.pools.a100.power_cap": "500 W"}, "power_cap 500 W exceeds a100-80gb-sxm's tdp 400 W"),
    ({"workloads.train.pools": {"h100": 32, "b200": 32}}, "workloads.train.pools.b200: unknown pool 'b200'; the "
                                                           "cluster's pools: h100, a100"),
    ({"workloads.train.pools": {"h100": 28, "a100": 36}}, "pools must hold whole data-parallel replicas of 8 GPUs"),
    ({"workloads.train.pools": {"h100": 24, "a100": 40}}, "workloads.train.pools.a100: 40 GPUs asked, but pool a100 "
                                                          "has 32 (4 nodes x 8)"),
    ({"workloads.train.pools": {"h100": 32}}, "pools must hold whole data-parallel replicas of 8 GPUs summing to "
                                               "the layout's 64"),
    ({"cluster.pools.a100.scale_up_domain": 72}, "cluster.pools.a100.scale_up_domain: the pool's 32 GPUs (4 nodes x 8) "
                                                 "do not split into domains of 72"),
    ({"cluster.pools.a100.scale_up_domain": 16, "cluster.topology": {"kind": "torus", "dims": [8, 8]}},
     "cluster.pools.a100.scale_up_domain: a torus has no scale-up domains"),
])
def test_bad_pools_are_refused_at_their_field(change: dict[str, Any], expected: str) -> None:
    assert expected in _problems(MIXED, **change)


def test_spares_of_a_job_across_pools_come_from_its_first_pool() -> None:
    changes = {"workloads.train.pools": {"h100": 24, "a100": 32}, "workloads.train.parallelism.dp": 7,
               "workloads.train.recovery.spare_nodes": 2}
    assert ("workloads.train.pools.h100: 24 GPUs and 2 spare nodes (16 GPUs) asked, but pool h100 has 32"
            in _problems(MIXED, **changes))
    assert cs.load(MIXED, {**changes, "workloads.train.recovery.spare_nodes": 1})


def test_an_empty_pool_list_or_a_bad_pool_gives_one_error_each() -> None:
    assert "cluster: pools: give at least one pool" in _problems("scenarios/quickstart.yaml", **{"cluster.pools": []})
    found = _problems(MIXED, **{"cluster.pools.a100.nodes": 0})
    assert found.count("\n") == 0 and "cluster.pools.a100.nodes: Input should be greater than 0" in found


def test_old_keys_next_to_pools_are_refused() -> None:
    text = MIXED.replace("cluster:\n", "cluster:\n  nodes: 8\n")
    assert "<string>:3: cluster: with pools:, give nodes in each pool instead of on the cluster" in _problems(text)


def test_a_pinned_job_that_its_pool_cannot_hold_is_refused_with_the_pool_named() -> None:
    found = _problems(MIXED, **{"workloads.train.pools": None, "workloads.train.pool": "a100",
                                "workloads.train.parallelism.dp": 8})
    assert ("tp x pp x dp = 8 x 1 x 8 = 64 GPUs, but pool a100 has 32 (4 nodes x 8); the product must be at most 32"
            in found)


def test_an_unpinned_job_needs_one_pool_that_can_run_it() -> None:
    fits = _load(**{"workloads.train.pools": None, "workloads.train.parallelism.dp": 4})
    assert fits.workloads[0].pool_names == ()
    assert "the product must be at most" in _problems(MIXED, **{"workloads.train.pools": None})


def test_a_pinned_service_names_its_pools_accelerators_when_memory_is_short() -> None:
    text = MIXED.replace("a100-80gb-sxm", "a100-40gb-sxm").split("workloads:")[0] + """workloads:
  - name: chat
    kind: inference
    model: llama3.1-70b
    replicas: 1
    tp: 2
    pool: a100
    slo: {ttft: 1 s, tpot: 50 ms}
    arrivals: {kind: poisson, rate: 1, requests: 10}
    input_tokens: 100
    output_tokens: 10
"""
    assert "room for a KV-cache block in a100-40gb-sxm's" in _problems(text)
    assert cs.load(text.replace("pool: a100", "pool: h100").replace("tp: 2", "tp: 4"))


# --- engine --------------------------------------------------------------------------------------------------

def _pooled(pool_nodes: tuple[int, ...] = (2, 2)) -> tuple[simpy.Environment, Cluster]:
    env = simpy.Environment()
    return env, Cluster(env, sum(pool_nodes), 8, pool_nodes=pool_nodes)


def _hold(env: simpy.Environment, cluster: Cluster, count: int, hold_s: float, options: Any,
          got: dict[str, tuple[float, np.ndarray]], name: str, ask_s: float = 0.0,
          ) -> Generator[simpy.Event, object, None]:
    yield env.timeout(ask_s)
    ids = yield cluster.request(count, options=options)
    assert isinstance(ids, np.ndarray)
    got[name] = (env.now, ids)
    yield env.timeout(hold_s)
    cluster.release(ids)


def test_a_pinned_request_gets_gpus_of_its_pool_only() -> None:
    env, cluster = _pooled()
    got: dict[str, tuple[float, np.ndarray]] = {}
    env.process(_hold(env, cluster, 12, 10, (((1, 12),),), got, "b"))
    env.run()
    assert set(cluster.pool_of_gpu[got["b"][1]].tolist()) == {1}


def test_a_blocked_pool_does_not_block_the_other() -> None:
    env, cluster = _pooled()
    got: dict[str, tuple[float, np.ndarray]] = {}
    env.process(_hold(env, cluster, 16, 10, (((0, 16),),), got, "a-first"))
    env.process(_hold(env, cluster, 8, 5, (((0, 8),),), got, "a-waits", ask_s=1))
    env.process(_hold(env, cluster, 8, 5, (((1, 8),),), got, "b-goes", ask_s=2))
    env.run()
    assert got["a-waits"][0] == 10 and got["b-goes"][0] == 2


def test_an_unpinned_request_takes_the_first_pool_with_room_and_never_straddles() -> None:
    env, cluster = _pooled()
    got: dict[str, tuple[float, np.ndarray]] = {}
    options = tuple(((pool, 12),) for pool in range(2))
    env.process(_hold(env, cluster, 12, 10, options, got, "first"))
    env.process(_hold(env, cluster, 12, 10, options, got, "second", ask_s=1))
    env.process(_hold(env, cluster, 12, 10, options, got, "third", ask_s=2))
    env.run()
    pools = {name: set(cluster.pool_of_gpu[ids].tolist()) for name, (_, ids) in got.items()}
    assert pools == {"first": {0}, "second": {1}, "third": {0}}
    assert got["third"][0] == 10


def test_a_split_request_takes_each_part_from_its_pool() -> None:
    env, cluster = _pooled()
    got: dict[str, tuple[float, np.ndarray]] = {}
    env.process(_hold(env, cluster, 24, 10, (((0, 16), (1, 8)),), got, "split"))
    env.run()
    counts = np.bincount(cluster.pool_of_gpu[got["split"][1]], minlength=2)
    assert counts.tolist() == [16, 8]


def test_allocation_options_follow_the_workload() -> None:
    cluster = _load().cluster
    assert allocation_options(cluster, 40, split={"h100": 32, "a100": 8}) == (((0, 32), (1, 8)),)
    assert allocation_options(cluster, 48, split={"h100": 32, "a100": 8}) == (((0, 40), (1, 8)),)  # spares
    assert allocation_options(cluster, 8, pool="a100") == (((1, 8),),)
    assert allocation_options(cluster, 8) == (((0, 8),), ((1, 8),))
    assert allocation_options(cs.load("scenarios/quickstart.yaml").cluster, 8) == ()


def test_shares_weigh_energy_by_each_pools_power() -> None:
    shares = Shares.of(np.array([0.5, 0.5]), np.array([700.0, 300.0]))
    assert shares.energy.tolist() == pytest.approx([0.7, 0.3])
    assert Shares.one(1, 3).gpus.tolist() == [0.0, 1.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(1, 16), st.floats(0.5, 5)), min_size=1, max_size=12))
def test_pinned_requests_never_leave_their_pool_and_no_gpu_is_granted_twice(asks: list[tuple[int, int, float]],
                                                                           ) -> None:
    env, cluster = _pooled()
    got: dict[str, tuple[float, np.ndarray]] = {}
    for index, (pool, count, hold_s) in enumerate(asks):
        env.process(_hold(env, cluster, count, hold_s, (((pool, count),),), got, str(index), ask_s=index * 0.1))
    env.run()
    assert len(got) == len(asks)
    for index, (pool, count, _) in enumerate(asks):
        ids = got[str(index)][1]
        assert ids.size == count and set(cluster.pool_of_gpu[ids].tolist()) == {pool}
    assert bool(cluster.free.all())


# --- the split of micro-batches --------------------------------------------------------------------------------

def _slowest(shares: tuple[Any, ...], base: list[float], slope: list[float]) -> float:
    return max(b + s * share.most for share, b, s in zip(shares, base, slope, strict=True))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.floats(0.0, 3.0), st.floats(0.05, 2.0)), min_size=1, max_size=3),
       st.integers(0, 12))
def test_balanced_split_assigns_every_micro_batch_and_no_other_split_is_faster(
        pools: list[tuple[int, float, float]], spare: int) -> None:
    replicas = [r for r, _, _ in pools]
    base, slope = [b for _, b, _ in pools], [s for _, _, s in pools]
    total = sum(replicas) + spare
    shares = balanced_split(replicas, total, base, slope)
    assert sum(s.total for s in shares) == total
    assert all(s.micro_batches >= 1 and 0 <= s.extra < s.replicas for s in shares)
    best = _slowest(shares, base, slope)
    per_replica = [(p, b, s) for p, (r, b, s) in enumerate(pools) for _ in range(r)]
    if total <= 10 and len(per_replica) <= 4:  # brute force over every assignment of micro-batches to replicas
        counts = [c for c in itertools.product(range(1, total + 1), repeat=len(per_replica)) if sum(c) == total]
        fastest = min(max(b + s * m for (_, b, s), m in zip(per_replica, c, strict=True)) for c in counts)
        assert best == pytest.approx(fastest)


def test_balanced_split_gives_the_faster_pool_more_and_even_split_gives_each_the_same() -> None:
    shares = balanced_split([2, 2], 12, [0.0, 0.0], [1.0, 2.0])
    assert [s.total for s in shares] == [8, 4]
    assert [s.total for s in even_split([2, 2], 3)] == [6, 6]
    with pytest.raises(ValueError, match="cannot give each"):
        balanced_split([2, 2], 3, [0.0, 0.0], [1.0, 1.0])


# --- runs ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs() -> dict[str, cs.Report]:
    one_pool = {"workloads.train.parallelism.dp": 4}
    return {
        "balanced": cs.simulate(_load()),
        "even": cs.simulate(_load(**{"workloads.train.batch_split": "even"})),
        "h100": cs.simulate(_load(**{"workloads.train.pools": {"h100": 32}}, **one_pool)),
        "a100": cs.simulate(_load(**{"workloads.train.pools": {"a100": 32}}, **one_pool)),
    }


def _step(report: cs.Report) -> float:
    return float(report.workloads["train"].step_time_s)  # type: ignore[union-attr]


def test_a_balanced_split_adds_the_slower_pools_throughput_and_an_even_one_is_paced_by_it(
        runs: dict[str, cs.Report]) -> None:
    h100, a100 = _step(runs["h100"]), _step(runs["a100"])
    assert a100 > 1.5 * h100  # the older chip is much slower on this compute-bound step
    # the same global batch on both pools: at best their rates add up
    ideal = 1 / (1 / h100 + 1 / a100)
    assert ideal <= _step(runs["balanced"]) <= 1.1 * ideal
    assert _step(runs["even"]) == pytest.approx(a100 / 2, rel=0.1)
    assert runs["balanced"].workloads["train"].accelerator == "h100-sxm + a100-80gb-sxm"


def test_per_pool_figures_sum_to_the_clusters(runs: dict[str, cs.Report]) -> None:
    for report in runs.values():
        cluster = report.cluster
        assert cluster.pools is not None and set(cluster.pools) == {"h100", "a100"}
        pools = cluster.pools.values()
        assert sum(p.gpu_hours for p in pools) == pytest.approx(cluster.gpu_hours)
        assert sum(p.gpu_energy_kwh for p in pools) == pytest.approx(cluster.gpu_energy_kwh)
        assert sum(p.rental_usd for p in pools) == pytest.approx(cluster.rental_usd)
        network_usd = cluster.network_energy_kwh * (cluster.electricity_usd_per_kwh or 0.0)
        assert network_usd > 0 and all(p.energy_usd > 0 for p in pools)
        assert sum(p.cost_usd for p in pools) + network_usd == pytest.approx(cluster.cost_usd)
        assert all(0 <= p.utilization <= 1 + 1e-9 and 0 <= p.allocation <= 1 + 1e-9 for p in pools)
        b = cluster.cost_breakdown
        assert b.useful_usd + b.checkpoint_usd + b.failure_usd + b.idle_usd == pytest.approx(cluster.rental_usd)
    h100_only = runs["h100"].cluster.pools
    assert h100_only is not None and h100_only["a100"].utilization == 0 and h100_only["a100"].allocation == 0
    assert h100_only["a100"].gpu_hour_usd == 1.2 and h100_only["h100"].gpu_hour_usd == 2.5


def test_each_pool_draws_its_own_chips_power(runs: dict[str, cs.Report]) -> None:
    pools = runs["balanced"].cluster.pools
    assert pools is not None
    # both pools busy the whole run; an H100 server draws 700 W chips against the A100's 400 W
    assert pools["h100"].gpu_energy_kwh > 1.3 * pools["a100"].gpu_energy_kwh


def test_a_report_without_pools_has_no_pools_key() -> None:
    report = cs.simulate(cs.load("scenarios/quickstart.yaml"))
    assert report.cluster.pools is None and '"pools"' not in report.model_dump_json()


def test_the_terminal_and_the_html_page_show_the_pools(runs: dict[str, cs.Report]) -> None:
    from rich.console import Console

    from simulator.report.html import report_html
    from simulator.report.render import report_tables

    console = Console(width=120, record=True)
    console.print(report_tables(runs["balanced"]))
    text = console.export_text()
    assert "pools" in text and "a100-80gb-sxm" in text and "$1.20 per GPU-hour" in text
    page = report_html(runs["balanced"])
    assert "<h2>Pools</h2>" in page and "<th>h100</th><th>a100</th>" in page


def test_each_pool_is_priced_on_its_own_chips_links_and_a_missing_figure_is_located() -> None:
    found = _problems(MIXED.replace("a100-80gb-sxm, nodes: 4", "mi300x, nodes: 4"))
    assert "cluster.pools.a100.accelerator: pool a100: mi300x has no NIC bandwidth" in found
    fixed = MIXED.replace("a100-80gb-sxm, nodes: 4", "mi300x, nodes: 4").replace(
        "pricing:", "  topology: {kind: fat_tree, nic_bandwidth: 400 Gbps}\npricing:")
    assert cs.load(fixed).cluster.view("a100").accelerator.name == "mi300x"


def test_the_layout_search_plans_on_the_workloads_pool() -> None:
    from simulator.tools.layout_plan import plan_layouts

    pinned = _load(**{"workloads.train.pools": None, "workloads.train.pool": "a100",
                      "workloads.train.parallelism.dp": 4})
    report = plan_layouts(pinned, None, top=3)
    assert report.gpus == 32 and all(row.tp * row.cp * row.pp * row.dp == 32 for row in report.layouts)
    on_h100 = plan_layouts(_load(**{"workloads.train.pools": None, "workloads.train.pool": "h100",
                                    "workloads.train.parallelism.dp": 4}), None, top=3)
    assert on_h100.layouts[0].step_time_s < report.layouts[0].step_time_s  # the faster chip


def test_an_unpinned_job_waits_for_a_pool_whose_memory_holds_it() -> None:
    text = MIXED.replace("a100-80gb-sxm", "a100-40gb-sxm").replace("llama3.1-8b", "llama3.1-70b").replace(
        "parallelism: {tp: 8, dp: 8, zero_stage: 1}", "parallelism: {tp: 8, pp: 4, dp: 1}").replace(
        "global_batch_size: 512", "global_batch_size: 64").replace("tokens: 2B", "tokens: 50M")
    text = text.replace("    pools: {h100: 32, a100: 32}\n", "") + text.split("workloads:\n")[1].replace(
        "name: train", "name: second").replace("    pools: {h100: 32, a100: 32}\n", "")
    scenario = cs.load(text)
    report = cs.simulate(scenario)
    first, second = (report.workloads[n] for n in ("train", "second"))
    assert not fits_memory(scenario.workloads[0], scenario.cluster.view("a100"))
    assert fits_memory(scenario.workloads[0], scenario.cluster.view("h100"))
    assert first.accelerator == second.accelerator == "h100-sxm"  # the 40 GB A100s never take it
    pools = report.cluster.pools
    assert pools is not None and pools["a100"].allocation == 0


def test_a_pool_that_starts_inside_a_unit_of_the_topology_is_noted() -> None:
    notes = cs.simulate(_load(**{"cluster.pools.h100.nodes": 3, "workloads.train.pools": {"h100": 24, "a100": 32},
                                 "workloads.train.parallelism.dp": 7})).notes
    assert any("pool a100 starts in the middle of a" in note and "(node 3)" in note for note in notes)
    assert not [n for n in cs.simulate(_load()).notes if "starts in the middle" in n]


def test_each_pool_has_its_own_scale_up_domains_in_every_view() -> None:
    from simulator.plan.network import network

    text = MIXED.replace("nodes: 4, gpus_per_node: 8}", "nodes: 4, gpus_per_node: 8, scale_up_domain: 16}", 1)
    cluster = cs.load(text).cluster
    for view in (cluster, cluster.view("a100")):
        net = network(view)
        assert list(np.bincount(net.domain_of)) == [16, 16] + [8] * 4  # the h100 pool's 32 GPUs, then the a100's
        assert sum(1 for _, role in net.graph.nodes(data="role") if role == "scale_up_switch") == 6
    assert list(np.bincount(network(_load().cluster).domain_of)) == [8] * 8  # no pool gives one: the nodes'


def test_a_tp16_replica_inside_its_pools_domain_decodes_faster_than_across_two() -> None:
    text = MIXED.split("workloads:")[0] + """workloads:
  - name: chat
    kind: inference
    model: llama3.1-70b
    replicas: 1
    tp: 16
    pool: h100
    arrivals: {kind: poisson, rate: 2, requests: 40}
    input_tokens: {kind: fixed, tokens: 512}
    output_tokens: {kind: fixed, tokens: 64}
    slo: {ttft: 2 s, tpot: 100 ms}
"""
    def tpot_s(domain: int | None) -> float:
        service = cs.simulate(cs.load(text, {"cluster.pools.h100.scale_up_domain": domain})).workloads["chat"]
        assert isinstance(service, InferenceReport) and service.tpot_s.p50 is not None
        return service.tpot_s.p50

    assert tpot_s(16) < 0.8 * tpot_s(None)


def test_each_gpu_has_its_own_pools_nic_and_a_collective_across_pools_is_bounded_by_the_slower() -> None:
    from simulator.plan.network import network, network_power
    from simulator.plan.training import split_step
    from simulator.run import DEFAULT_STEP_MODEL

    scenario = _load()
    nic = [network(scenario.cluster.view(pool)) for pool in ("h100", "a100")]
    for net in nic:  # H100 400 Gb/s, A100 200 Gb/s, in any pool's view
        first = net.channel_names.index("nic up gpu[0]")
        assert list(net.raw_bandwidth[first + np.array([0, 31, 32, 63])]) == [50e9, 50e9, 25e9, 25e9]
    wide = _load(**{"cluster.pools.a100.accelerator": {"base": "a100-80gb-sxm", "nic_bandwidth": "800 Gbps"}})
    assert network_power(wide.cluster, wide.pricing) > network_power(scenario.cluster, scenario.pricing)  # 2 modules
    fast = _load(**{"cluster.topology": {"kind": "fat_tree", "nic_bandwidth": "400 Gbps"}})  # every NIC

    def step(s: cs.Scenario) -> float:
        pool_of = np.repeat([0, 1], 32)
        return split_step(DEFAULT_STEP_MODEL, s.workloads[0], s.cluster, np.arange(64), pool_of).dp_comm_s

    assert step(scenario) > 1.5 * step(fast)  # the gradient all-reduce crosses the A100s' 200 Gb/s NICs


def test_a_pools_work_is_planned_on_its_own_gpus_whatever_the_pools_order() -> None:
    """A pool's first GPUs, not the cluster's, are where its replicas and layouts are first priced: with domains
    and NICs per pool, the cluster's first GPUs may sit in another pool's domains."""
    from simulator.tools.layout_plan import plan_layouts

    path = "scenarios/fleets/nvl72-next-to-hgx.yaml"
    fewer = {"workloads.on-nvl72.arrivals.requests": 200, "workloads.on-hgx.arrivals.requests": 200}
    listed = cs.load(path, fewer)
    pools = listed.model_dump(by_alias=True)["cluster"]["pools"]
    swapped = cs.load(path, {**fewer, "cluster.pools": list(reversed(pools))})
    assert [p.name for p in swapped.cluster.pool_specs] == ["hgx", "nvl72"] and swapped.cluster.first_gpu("nvl72") == 64
    tpot = [cs.simulate(s).workloads["on-nvl72"] for s in (listed, swapped)]
    assert isinstance(tpot[0], InferenceReport) and isinstance(tpot[1], InferenceReport)
    assert tpot[1].tpot_s.p50 == pytest.approx(tpot[0].tpot_s.p50, rel=0.01)

    from simulator.models.workload.layout_search import search_layouts
    from simulator.plan.network import network

    text = MIXED.replace("gpus_per_node: 8}", "gpus_per_node: 8, scale_up_domain: 32}", 1).replace(
        "pools: {h100: 32, a100: 32}", "pool: a100").replace("tp: 8, dp: 8", "tp: 8, dp: 4")
    scenario = cs.load(text)
    view = scenario.cluster.view("a100")
    base, net = training_plan(scenario.workloads[0], view).step, network(view)
    reserve = scenario.workloads[0].memory_reserve_bytes
    at = {first: search_layouts(base, net, 32, reserve, 1, first)[0][0].time.total_s for first in (0, 32)}
    assert plan_layouts(scenario, None, top=1).layouts[0].step_time_s == at[32]  # the A100s' own GPUs
    assert at[32] != pytest.approx(at[0])  # the H100 pool's GPUs 0..31 form one NVLink domain


def test_a_kv_cache_moves_at_the_slower_sides_nics() -> None:
    from simulator.plan.serving import kv_transfer_s_per_token, serving_config
    from simulator.scenario.inference import InferenceWorkload

    def per_token_s(**changes: Any) -> tuple[float, float]:
        scenario = cs.load("scenarios/fleets/h100-prefill-mi300x-decode.yaml", changes)
        w, cluster = scenario.workloads[0], scenario.cluster
        assert isinstance(w, InferenceWorkload)
        prefill = serving_config(w, cluster.view("h100"))
        return kv_transfer_s_per_token(w, cluster.view("h100"), cluster.view("mi300x"), prefill), \
            prefill.kv_bytes_per_token

    same, shard_bytes = per_token_s()  # TP4 to TP4: each rank's shard over its own 400 Gb/s NIC (the topology's)
    assert same == pytest.approx(shard_bytes / 50e9)
    slow_decode, _ = per_token_s(**{  # the H100s at the catalog's 400 Gb/s, the MI300Xs at 200
        "cluster.topology.nic_bandwidth": None,
        "cluster.pools.mi300x.accelerator": {"base": "mi300x", "nic_bandwidth": "200 Gbps"}})
    assert slow_decode == pytest.approx(2 * same)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from([None, 1, 2, 4, 8, 16])), min_size=1, max_size=4),
       st.sampled_from(["single_switch", "fat_tree"]))
def test_no_scale_up_domain_straddles_pools_and_each_has_its_pools_size(pools: list[tuple[int, int | None]],
                                                                        kind: str) -> None:
    from simulator.plan.network import network, pool_links

    specs = [{"name": f"p{i}", "accelerator": "h100-sxm", "nodes": nodes, "gpus_per_node": 4}
             | ({} if size is None or (nodes * 4) % size else {"scale_up_domain": size})
             for i, (nodes, size) in enumerate(pools)]
    cluster = cs.load({"name": "domains", "cluster": {"pools": specs, "topology": {"kind": kind}},
                       "pricing": {"gpu_hour_usd": 2}, "workloads": [{
                           "name": "t", "kind": "training", "model": "llama3.1-8b", "tokens": "1M", "seq_len": 1024,
                           "global_batch_size": 4, "parallelism": {"tp": 4, "dp": 1}}]}).cluster
    domain_of, first = network(cluster).domain_of, 0
    for spec, (size, _) in zip(specs, pool_links(cluster), strict=True):
        gpus = spec["nodes"] * 4
        assert size == spec.get("scale_up_domain", 4)
        part = domain_of[first:first + gpus]
        assert list(np.bincount(part - part.min())) == [size] * (gpus // size)
        assert first == 0 or part.min() > domain_of[first - 1]  # a domain never crosses into the next pool
        first += gpus
