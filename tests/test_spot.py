"""Spot capacity: the schema's sourced defaults, the reclaim process (only its pool's nodes, at its rate, in bursts,
after a notice), a training job that saves on a notice whose write fits (timelines worked out by hand), the spot
report and its invariants, and the shipped spot fine-tune."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import simpy
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from simulator import run as run_module
from simulator.catalog import accelerator
from simulator.engine.cluster import Cluster
from simulator.engine.reclaims import Reclaims
from simulator.models.hardware import PriceKind
from simulator.plan.load import load_scenario, load_text
from simulator.plan.training import job_mttf_s, recovery_plan
from simulator.report.invariants import violations
from simulator.run import simulate
from simulator.scenario.capacity import NOTICE_S, SpotSpec, reclaim_cause
from simulator.scenario.loader import ScenarioError
from simulator.scenario.schema import TrainingWorkload
from tests.conftest import ROOT
from tests.test_capacity_plan import SMALL
from tests.test_training_job import BASE, STEP_S, bench, make_job

SPOT_FINETUNE = ROOT / "scenarios" / "fleets" / "spot-finetune.yaml"
GPN = 8


def test_notice_defaults_to_the_providers_documented_warning() -> None:
    assert NOTICE_S == {"aws": 120.0, "gcp": 30.0, "azure": 30.0}
    assert SpotSpec().notice == 120.0
    assert SpotSpec(provider="gcp").notice == 30.0
    assert SpotSpec.model_validate({"provider": "azure", "notice": "45 s"}).notice == 45.0
    default = SpotSpec()
    assert default.reclaims_per_node_hour == 0.24 and default.away_s == 3600.0 and default.burst_nodes == 1


@pytest.mark.parametrize(("spot", "message"), [
    ("{reclaims_per_node_hour: -1}", "greater than or equal to 0"),
    ("{provider: ibm}", "'aws', 'gcp' or 'azure'"),
    ("{burst_nodes: 0}", "greater than or equal to 1"),
    ("{away: 0 s}", "greater than 0"),
])
def test_bad_spot_settings_are_located(spot: str, message: str) -> None:
    text = SPOT_FINETUNE.read_text(encoding="utf-8").replace("spot: {provider: aws}", f"spot: {spot}")
    with pytest.raises(ScenarioError) as err:
        load_text(text, "spot.yaml", base_dir=str(ROOT))
    assert len(err.value.issues) == 1
    issue = err.value.issues[0]
    assert str(issue).startswith("spot.yaml:") and "cluster.pools.spot.spot" in str(issue)
    assert message in str(issue)


def test_a_burst_larger_than_its_pool_is_located() -> None:
    text = SPOT_FINETUNE.read_text(encoding="utf-8").replace("spot: {provider: aws}", "spot: {burst_nodes: 21}")
    with pytest.raises(ScenarioError) as err:
        load_text(text, "spot.yaml")
    assert [str(i) for i in err.value.issues] == [
        "spot.yaml:26: cluster.pools.spot.spot.burst_nodes: a reclaim cannot take 21 nodes of a pool of 20"]


def test_the_catalog_has_dated_spot_prices() -> None:
    h100 = accelerator("h100-sxm").latest_price(PriceKind.SPOT)
    a100 = accelerator("a100-80gb-sxm").latest_price(PriceKind.SPOT)
    assert h100 is not None and (h100.usd, h100.date) == (6.571, "2026-09")  # GCP a3-highgpu-1g Spot
    assert a100 is not None and (a100.usd, a100.date) == (0.59, "2026-03")


@dataclass
class Recorder:
    """A holder of every node that records what it is told, and acts on notices when `acts`."""

    env: simpy.Environment
    acts: bool = False
    notices: list[tuple[float, int, float]] = field(default_factory=list)
    crashes: list[tuple[float, int, str]] = field(default_factory=list)

    def crash(self, node: int, cause: str) -> None:
        self.crashes.append((self.env.now, node, cause))

    def slow(self, node: int, factor: float) -> None:
        raise AssertionError("reclaims never slow a node")

    def is_slowed(self, node: int) -> bool:
        return False

    def notice(self, node: int, seconds: float) -> bool:
        self.notices.append((self.env.now, node, seconds))
        return self.acts


def reclaimed(spec: SpotSpec, nodes: int = 10, first: int = 4, size: int = 4, hours: float = 200.0,
              seed: int = 1, acts: bool = False) -> tuple[Reclaims, Cluster, Recorder]:
    """A pool of `size` nodes from `first` in a cluster of `nodes`, all held by a Recorder, reclaimed for `hours`."""
    env = simpy.Environment()
    cluster = Cluster(env, nodes, GPN)
    holder = Recorder(env, acts)
    cluster.hold(np.arange(nodes * GPN, dtype=np.int64), holder)
    pool = Reclaims("p", first, size, spec)
    env.process(pool.run(env, cluster, np.random.default_rng(seed)))
    env.run(until=hours * 3600.0)
    return pool, cluster, holder


def test_reclaims_take_only_the_pools_nodes_after_the_notice() -> None:
    pool, cluster, holder = reclaimed(SpotSpec(reclaims_per_node_hour=2.0, away="10 min"), acts=True)
    taken = {node for _, node, _, _ in cluster.failure_log}
    assert taken == {4, 5, 6, 7} and {cause for *_, cause in cluster.failure_log} == {reclaim_cause("p")}
    assert pool.events == pool.nodes_taken == len(cluster.failure_log) == len(holder.crashes) > 1000
    warned = {(node, t + seconds) for t, node, seconds in holder.notices}
    assert all(seconds == 120.0 for *_, seconds in holder.notices)
    assert {(node, t) for t, node, _ in holder.crashes} <= warned  # each crash exactly one notice after its warning
    assert pool.notices_acted == len(holder.notices)


def test_running_nodes_are_reclaimed_at_the_published_rate() -> None:
    """Thinning: events at rate x nodes, each node picked with chance 1/nodes and taken if running, so every
    running node is reclaimed at the rate per hour. Away 1 ms and no notice: the nodes run all the time."""
    rate, hours = 0.5, 2000.0
    pool, _, _ = reclaimed(SpotSpec(reclaims_per_node_hour=rate, away="1 ms", notice=0), hours=hours)
    expected = rate * 4 * hours  # 4,000
    assert pool.nodes_taken == pytest.approx(expected, rel=4 / math.sqrt(expected))
    assert pool.away_node_seconds(hours * 3600.0) == pytest.approx(pool.nodes_taken * 1e-3, rel=0.2)


def test_a_burst_takes_several_nodes_at_once() -> None:
    pool, cluster, _ = reclaimed(SpotSpec(reclaims_per_node_hour=0.5, burst_nodes=3, away="1 ms", notice=0))
    assert pool.events > 50 and pool.nodes_taken == 3 * pool.events
    times = [t for t, *_ in cluster.failure_log]
    assert all(times[i] == times[i + 1] == times[i + 2] for i in range(0, len(times), 3))


def test_a_pool_never_reclaimed_starts_no_events() -> None:
    pool, cluster, _ = reclaimed(SpotSpec(reclaims_per_node_hour=0.0))
    assert pool.events == 0 and not cluster.failure_log


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.01, 5.0), burst=st.integers(1, 6),
       away_s=st.floats(1.0, 20_000.0), notice_s=st.floats(0.0, 600.0))
def test_reclaim_counts_are_consistent(seed: int, rate: float, burst: int, away_s: float, notice_s: float) -> None:
    spec = SpotSpec(reclaims_per_node_hour=rate, burst_nodes=burst, away=away_s, notice=notice_s)
    pool, cluster, holder = reclaimed(spec, hours=20.0, seed=seed, size=5)
    now = 20 * 3600.0
    assert pool.events <= pool.nodes_taken <= pool.events * burst
    assert {node for _, node, _, _ in cluster.failure_log} <= {4, 5, 6, 7, 8}
    assert pool.away_node_seconds(now) <= cluster.down_gpu_seconds() / GPN * (1 + 1e-9) + 1e-6
    assert len(holder.crashes) == pool.nodes_taken and pool.notices_acted == 0


def test_a_job_saves_on_a_notice_whose_write_fits() -> None:
    """Reference job (tests/test_training_job.py): checkpoint at step 10 durable at 21 s, next span 21-41 s.
    Warned at 30 s that node 0 goes in 10 s: it keeps the 4 whole steps since 21 s (steps 14), checkpoints 30-31
    s (durable at 31), computes steps 14-18 by 39 s; the node goes at 40 s: 4 steps (8 s) roll back. Unwarned,
    the failure at 40 s rolls back the 9 steps since step 10 (18 s)."""
    cause = reclaim_cause("p")
    rolled = {}
    for warned in (True, False):
        job = make_job()
        b = bench()
        if warned:
            b.at(30.0, functools.partial(b.cluster.notify, 0, 10.0))
        b.fail(40.0, 0, 5.0, cause)
        b.start(job)
        b.env.run()
        rolled[warned] = job.rolled_back_s[cause]
        assert job.notices_acted == int(warned) and job.steps_done == job.steps_total
        assert job.checkpoints == 4 + int(warned)
    assert rolled == {True: 4 * STEP_S, False: 9 * STEP_S}


def test_a_notice_shorter_than_the_write_or_off_the_job_is_ignored() -> None:
    cause = reclaim_cause("p")
    slow_write = make_job(recovery=replace(BASE, write_s=15.0))  # durable 15 s after it starts: not within 10 s
    b = bench()
    acted = []
    b.at(30.0, lambda: acted.append(b.cluster.notify(0, 10.0)))
    b.at(30.0, lambda: acted.append(b.cluster.notify(3, 0.0)))
    b.fail(40.0, 0, 5.0, cause)
    b.start(slow_write)
    b.env.run()
    assert acted == [0, 0] and slow_write.notices_acted == 0
    assert slow_write.rolled_back_s[cause] == 9 * STEP_S
    idle = make_job(gpus=16)  # holds nodes 0 and 1 only
    b = bench()
    b.at(30.0, lambda: acted.append(b.cluster.notify(2, 60.0)))
    b.start(idle)
    b.env.run()
    assert acted[-1] == 0 and idle.notices_acted == 0


def test_the_spot_finetune_saves_on_aws_notices_and_not_on_gcps() -> None:
    reports = {p: simulate(load_scenario(SPOT_FINETUNE, [f"cluster.pools.spot.spot.provider={p}"]))
               for p in ("aws", "gcp")}
    cause = reclaim_cause("spot")
    per_stop = {}
    for provider, report in reports.items():
        assert violations(report) == []
        spot = report.spot["spot"]
        w = report.workloads["finetune-70b"]
        assert w.kind == "training" and w.status == "completed"
        assert spot.notice_s == NOTICE_S[provider] and spot.reclaims > 0 and spot.reclaimed_gpu_hours > 0
        assert 0 < w.interruptions_by_cause[cause] <= spot.nodes_reclaimed
        per_stop[provider] = spot.lost_gpu_hours / w.interruptions_by_cause[cause]
    assert reports["aws"].spot["spot"].notices_acted > 0 and reports["gcp"].spot["spot"].notices_acted == 0
    assert per_stop["aws"] < 0.5 * per_stop["gcp"]  # a 60 s write fits in 120 s, not in 30 s


def test_a_spot_pool_after_another_reclaims_only_its_own_nodes() -> None:
    """The run wires one reclaim process per spot pool at the pool's first node (the second pool: nodes 4-7)."""
    two = SMALL.replace(
        "    - {name: spot, accelerator: a100-80gb-sxm, nodes: 4, gpus_per_node: 8, rental: spot,\n"
        "       spot: {reclaims_per_node_hour: 0, away: 1 h}}",
        "    - {name: ondemand, accelerator: a100-80gb-sxm, nodes: 4, gpus_per_node: 8, rental: on_demand}\n"
        "    - {name: spot, accelerator: a100-80gb-sxm, nodes: 4, gpus_per_node: 8, rental: spot,\n"
        "       spot: {reclaims_per_node_hour: 5, away: 10 min}}")
    scenario = load_text(two, "two.yaml")
    env = simpy.Environment()
    cluster = Cluster(env, scenario.cluster.nodes, GPN)
    _, (pool,) = run_module._failures(env, scenario, cluster)
    env.run(until=100 * 3600.0)
    assert (pool.pool, pool.first_node, pool.nodes) == ("spot", 4, 4)
    assert {node for _, node, _, _ in cluster.failure_log} == {4, 5, 6, 7} and pool.nodes_taken > 100
    assert simulate(scenario).spot["spot"].reclaims >= 1


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), rate=st.floats(0.0, 30.0), notice_s=st.floats(0.0, 300.0),
       write_s=st.floats(1.0, 120.0), burst=st.integers(1, 4), provider=st.sampled_from(["aws", "gcp", "azure"]))
def test_runs_with_reclaims_add_up(seed: int, rate: float, notice_s: float, write_s: float, burst: int,
                                   provider: str) -> None:
    """Whatever the reclaims, the report's accounts close and a job saves on a notice only when its write fits."""
    notice_s, write_s, rate = round(notice_s, 3), round(write_s, 3), round(rate, 3)  # as written in YAML
    spot = (f"{{provider: {provider}, notice: {notice_s:.3f} s, reclaims_per_node_hour: {rate:.3f}, "
            f"burst_nodes: {burst}, away: 20 min}}")
    text = SMALL.replace("spot: {reclaims_per_node_hour: 0, away: 1 h}", f"spot: {spot}").replace(
        "write: 20 s", f"write: {write_s:.3f} s").replace("seed: 3", f"seed: {seed}\nhorizon: 2 d")
    report = simulate(load_text(text, "spot.yaml"), series=False)
    assert violations(report) == []
    pool, job = report.spot["spot"], report.workloads["pretrain"]
    assert job.kind == "training" and job.steps + job.steps_remaining == job.steps_total
    assert pool.notices_acted == 0 or write_s <= notice_s
    assert job.interruptions_by_cause[reclaim_cause("spot")] <= pool.nodes_reclaimed


def test_the_spot_invariants_catch_a_tampered_report() -> None:
    report = simulate(load_scenario(SPOT_FINETUNE))
    spot = report.spot["spot"]
    assert violations(report) == []
    spot.reclaimed_gpu_hours = report.cluster.down_gpu_hours + 1.0
    assert any("reclaimed" in v for v in violations(report))
    spot.reclaimed_gpu_hours, spot.nodes_reclaimed = 0.0, spot.reclaims - 1
    assert any(f"{spot.reclaims} reclaims took" in v for v in violations(report))


def test_the_run_tables_show_the_spot_pools() -> None:
    result = CliRunner().invoke(main, ["run", str(SPOT_FINETUNE)])
    assert result.exit_code == 0 and "spot pools" in result.output and "notices acted on" in result.output
    quick = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "quickstart.yaml")])
    assert quick.exit_code == 0 and "spot pools" not in quick.output


def test_young_checkpoints_against_the_pools_reclaim_rate() -> None:
    scenario = load_scenario(SPOT_FINETUNE, ["workloads.finetune-70b.checkpoint.policy=young"])
    workload = scenario.workloads[0]
    assert isinstance(workload, TrainingWorkload)
    mttf_s = 3600.0 / (16 * 0.24)  # the job's 16 nodes at 0.24 reclaims per node-hour; no failure model
    assert job_mttf_s(workload, scenario) == pytest.approx(mttf_s)
    step_s = 8.0
    plan = recovery_plan(workload, scenario, step_s)
    assert plan.interval_steps == round(math.sqrt(2 * 10.0 * mttf_s) / step_s)
    calm = load_scenario(SPOT_FINETUNE, ["cluster.pools.spot.spot=null"])
    assert job_mttf_s(calm.workloads[0], calm) == math.inf  # type: ignore[arg-type]
