"""Batch job streams on a shared cluster: the M/M/c check, scheduling policies (FIFO, priority, EASY
backfill), failures re-placing work off failed nodes, tenants, job traces and their errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from simulator.engine.cluster import Cluster
from simulator.plan.load import load_scenario
from simulator.report.model import Report
from simulator.run import simulate

BASE = {
    "name": "jobs", "seed": 1,
    "cluster": {"accelerator": "h100-sxm", "nodes": 1, "gpus_per_node": 8, "topology": {"kind": "single_switch"}},
    "pricing": {"gpu_hour_usd": 2.0},
}


def scenario_file(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(BASE | extra, sort_keys=False), encoding="utf-8")
    return path


def run(tmp_path: Path, seed: int = 1, **extra: object) -> Report:
    return simulate(load_scenario(scenario_file(tmp_path, **extra)).model_copy(update={"seed": seed}), series=False)


def erlang_c_wait_s(arrival_per_s: float, service_s: float, servers: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C)."""
    load = arrival_per_s * service_s
    rho = load / servers
    below = sum(load**k / math.factorial(k) for k in range(servers))
    top = load**servers / math.factorial(servers) / (1 - rho)
    return top / (below + top) / (servers / service_s - arrival_per_s)


def test_single_gpu_jobs_under_fifo_match_the_m_m_c_mean_wait(tmp_path: Path) -> None:
    """Issue 8: exponential single-GPU jobs, Poisson arrivals, 8 GPUs, FIFO, load 0.7."""
    rate, mean_s = 5.6 / 3600, 3600.0
    jobs = [{"kind": "generated", "count": 20_000, "rate": rate, "gpus": {"kind": "choice", "values": [1]},
             "duration": {"kind": "exponential", "mean": mean_s}}]
    waits = []
    for seed in range(6):
        report = run(tmp_path, seed, jobs=jobs)
        assert report.jobs is not None and report.jobs.completed == 20_000
        waits.append(report.jobs.mean_queued_s)
    expected = erlang_c_wait_s(rate, mean_s, 8)  # 406 s
    error = np.std(waits, ddof=1) / math.sqrt(len(waits))  # Monte Carlo standard error over independent runs
    assert abs(np.mean(waits) - expected) < 3 * error + 0.02 * expected


def _two_sizes(policy: str) -> dict[str, object]:
    # a 4-GPU job blocks the cluster: an 8-GPU job waits at the head, 1-GPU jobs queue behind it
    return {"scheduler": {"policy": policy}, "jobs": [
        {"kind": "trace", "path": "jobs.csv"}]}


TRACE = """submit_time,tenant,gpus,duration,priority
0,alpha,4,1000,0
10,alpha,8,1000,0
20,beta,1,100,0
30,beta,1,5000,0
40,beta,4,200,5
"""


def _trace_starts(tmp_path: Path, policy: str) -> tuple[float, dict[str, float | None]]:
    """The TRACE jobs under `policy`: their mean queueing and each one's start."""
    (tmp_path / "jobs.csv").write_text(TRACE, encoding="utf-8")
    jobs = run(tmp_path, **_two_sizes(policy)).jobs
    assert jobs is not None
    return jobs.mean_queued_s, {r.name: r.started_s for r in jobs.rows}


def test_backfill_starts_short_jobs_around_the_head_without_delaying_it(tmp_path: Path) -> None:
    fifo_wait, fifo_start = _trace_starts(tmp_path, "fifo")
    backfill_wait, backfill_start = _trace_starts(tmp_path, "backfill")
    assert fifo_start["trace-1"] == backfill_start["trace-1"] == 1000.0  # the 8-GPU head is not delayed
    assert fifo_start["trace-2"] == 2000.0 and backfill_start["trace-2"] == 20.0  # a short job slips in
    assert (backfill_start["trace-3"] or 0.0) >= 2000.0  # a long one would delay the head: it waits
    assert backfill_wait < fifo_wait


def test_priority_puts_later_urgent_work_first(tmp_path: Path) -> None:
    _, fifo_start = _trace_starts(tmp_path, "fifo")
    _, priority_start = _trace_starts(tmp_path, "priority")
    assert (fifo_start["trace-4"] or 0.0) > (fifo_start["trace-1"] or 0.0)  # FIFO: behind the 8-GPU job
    assert priority_start["trace-4"] == 40.0 < (priority_start["trace-1"] or 0.0)  # priority 5 goes first


def test_failures_re_place_jobs_never_on_a_failed_node_and_gpu_time_is_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Cluster._start

    def checked(self: Cluster, request: object, free_ids: np.ndarray) -> np.ndarray:
        ids = original(self, request, free_ids)  # type: ignore[arg-type]
        assert self.up[ids // self.gpus_per_node].all(), "a job was placed on a failed node"
        return ids

    monkeypatch.setattr(Cluster, "_start", checked)
    extra = {
        "cluster": {"accelerator": "h100-sxm", "nodes": 8, "gpus_per_node": 8, "topology": {"kind": "single_switch"}},
        "failures": {"components": [{"name": "node", "scope": "node", "mtbf": "2 d", "distribution": "exponential",
                                     "repair": {"median": "2 h", "sigma": 0.5}}]},
        "jobs": [{"kind": "generated", "count": 400, "rate": 1 / 600,
                  "gpus": {"kind": "power_of_two", "share": 0.5, "max": 32},
                  "duration": {"kind": "lognormal", "median": "2 h", "sigma": 1.0, "max": "2 d"},
                  "tenants": {"vision": 1, "speech": 3}, "checkpoint_interval": "30 min"}],
        "scheduler": {"policy": "backfill"},
    }
    report = simulate(load_scenario(scenario_file(tmp_path, **extra)))
    jobs = report.jobs
    assert jobs is not None and jobs.completed == 400 and jobs.interruptions > 0 and jobs.lost_gpu_hours > 0
    assert report.cluster.node_failures > 0
    # allocated GPU-seconds never exceed those available: at every sample and in total
    assert max(report.series.allocated_gpus) <= report.cluster.gpus
    assert report.cluster.allocation <= 1.0
    assert jobs.gpu_hours <= report.cluster.gpu_hours
    tenants = report.tenants
    assert set(tenants) == {"vision", "speech"} and sum(t.share for t in tenants.values()) == pytest.approx(1.0)
    assert tenants["speech"].batch_jobs > tenants["vision"].batch_jobs
    assert sum(t.gpu_hours for t in tenants.values()) == pytest.approx(jobs.gpu_hours)
    assert all(0.0 <= f <= 1.0 for f in report.series.fragmentation)
    again = simulate(load_scenario(scenario_file(tmp_path, **extra)))
    assert again.model_dump(exclude={"wall_s"}) == report.model_dump(exclude={"wall_s"})


@pytest.mark.parametrize(("trace", "words"), [
    ("submit_time,tenant,gpus,duration\n0,a,64,10\n", ["needs 64 GPUs", "has 8"]),
    ("submit_time,tenant,gpus\n0,a,1\n", ["no column 'duration'"]),
    ("submit_time,tenant,gpus,duration\n0,a,two,10\n", ["line 2", "'gpus'"]),
    ("submit_time,tenant,gpus,duration,preemptible\n0,a,1,10,maybe\n", ["line 2", "'preemptible'"]),
])
def test_bad_job_traces_are_located(tmp_path: Path, trace: str, words: list[str]) -> None:
    (tmp_path / "jobs.csv").write_text(trace, encoding="utf-8")
    path = scenario_file(tmp_path, jobs=[{"kind": "trace", "path": "jobs.csv"}])
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2 and ": jobs[0].path: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize("on_preempt", ["checkpoint", "lose"])
def test_urgent_work_preempts_preemptible_jobs_which_resume_later(tmp_path: Path, on_preempt: str) -> None:
    (tmp_path / "low.csv").write_text("submit_time,tenant,gpus,duration,preemptible\n" + "".join(
        f"{i},research,1,10000,true\n" for i in range(8)), encoding="utf-8")
    (tmp_path / "urgent.csv").write_text("submit_time,tenant,gpus,duration,priority\n0,prod,4,500,10\n",
                                         encoding="utf-8")
    extra = {"scheduler": {"policy": "priority", "preemption": True}, "jobs": [
        {"kind": "trace", "name": "low", "path": "low.csv", "on_preempt": on_preempt,
         "checkpoint_interval": "10 min"},
        {"kind": "trace", "name": "urgent", "path": "urgent.csv", "start_at": "1000 s"}]}
    jobs = run(tmp_path, **extra).jobs
    assert jobs is not None and jobs.completed == 9
    rows = {r.name: r for r in jobs.rows}
    assert rows["urgent-0"].started_s == 1000.0 and rows["urgent-0"].queued_s == 0.0  # room made at once
    preempted = [r for r in rows.values() if r.preemptions]
    assert [r.name for r in preempted] == ["low-4", "low-5", "low-6", "low-7"]  # the most recently started
    assert jobs.preemptions == 4 and jobs.interruptions == 0
    assert all(r.finished_s is not None and r.finished_s > 10_000 for r in preempted)  # resumed after it
    if on_preempt == "checkpoint":
        assert jobs.lost_gpu_hours == 0.0
    else:  # back to the last 10-minute checkpoint: 1000 s - 4 s .. 1000 s - 7 s into each, 400 s lost
        assert jobs.lost_gpu_hours == pytest.approx(4 * (1000 - 600 - 5.5) / 3600, rel=0.05)
    assert run(tmp_path, **(extra | {"scheduler": {"policy": "priority"}})).jobs.rows[-1].started_s > 10_000  # type: ignore[union-attr]


def test_the_shared_cluster_scenario_shows_queueing_peak_preemptions_and_tenant_costs() -> None:
    """Issue 8 acceptance: scenarios/shared-cluster.yaml."""
    from tests.conftest import ROOT

    report = simulate(load_scenario(ROOT / "scenarios" / "shared-cluster.yaml"))
    jobs, chat = report.jobs, report.workloads["chat"]
    assert jobs is not None and jobs.mean_queued_s > 600 and jobs.preemptions > 0
    tenants = report.tenants
    assert tenants["product"].preemptions_caused > 0  # the chat service's peak took GPUs from research jobs
    assert tenants["research"].preemptions_caused == 0
    assert {"product", "research", "ads"} <= set(tenants) and all(t.cost_usd > 0 for t in tenants.values())
    assert sum(t.share for t in tenants.values()) == pytest.approx(1.0)
    assert chat.requests.completed == chat.requests.total  # type: ignore[union-attr]


def test_placement_keeps_small_jobs_on_full_nodes_and_big_ones_inside_a_unit() -> None:
    import simpy

    env = simpy.Environment()
    cluster = Cluster(env, nodes=8, gpus_per_node=8, unit_nodes=4)  # two units of 4 nodes
    def grant(count: int) -> np.ndarray:
        event = cluster.request(count)
        assert event.triggered
        return np.asarray(event.value)
    first = grant(2)  # node 0
    second = grant(3)  # best fit: the partly used node 0, not a whole one
    assert set((first // 8).tolist()) == set((second // 8).tolist()) == {0}
    cluster.release(grant(8 * 3))  # nodes 1-3 (unit 0) taken and given back, to reach a state:
    big = grant(8 * 2)  # two whole nodes: the fullest unit that has two whole nodes free
    units = set((big // 8 // 4).tolist())
    assert len(units) == 1  # inside one unit
    many = grant(8 * 4)  # a job the size of a unit: the unit that still has four whole nodes
    assert set((many // 8 // 4).tolist()) == {1}


@pytest.mark.parametrize("on_preempt", ["checkpoint", "lose"])
def test_a_preemptible_training_job_yields_to_urgent_work_and_resumes(tmp_path: Path, on_preempt: str) -> None:
    (tmp_path / "urgent.csv").write_text("submit_time,tenant,gpus,duration,priority\n0,prod,8,3600,10\n",
                                         encoding="utf-8")
    extra = {
        "cluster": {"accelerator": "a100-80gb-sxm", "nodes": 2, "gpus_per_node": 8,
                    "topology": {"kind": "single_switch"}},
        "scheduler": {"policy": "priority", "preemption": True},
        "workloads": [{"name": "pretrain", "kind": "training", "model": "gpt3-1.3b", "tokens": "10B",
                       "seq_len": 2048, "global_batch_tokens": "1M", "parallelism": {"dp": 16},
                       "tenant": "research", "preemptible": True, "on_preempt": on_preempt,
                       "checkpoint": {"policy": "fixed", "interval": "1 h", "write": "30 s"},
                       "recovery": {"restart": "5 min"}}],
        "jobs": [{"kind": "trace", "name": "urgent", "path": "urgent.csv", "start_at": "1.5 h"}],
    }
    report = simulate(load_scenario(scenario_file(tmp_path, **extra)))
    job, urgent = report.workloads["pretrain"], report.jobs.rows[0]  # type: ignore[union-attr]
    assert urgent.started_s == 5400.0 and urgent.queued_s == 0.0  # the training job made room at once
    assert job.status == "completed" and job.preemptions == 1  # type: ignore[union-attr]
    assert job.requeued_s == pytest.approx(3600.0, abs=1.0)  # type: ignore[union-attr]  # back when it ended
    # GPU time is paid only while held: the hour away is not the training job's
    assert job.gpu_hours == pytest.approx(16 * (job.wall_clock_s - job.requeued_s) / 3600, rel=1e-6)  # type: ignore[union-attr]
    redone = job.losses.redone_work_gpu_hours  # type: ignore[union-attr]
    if on_preempt == "checkpoint":
        assert redone < 16 * job.step_time_s / 3600 * 1.01  # at most the step under way
    else:  # back to the checkpoint at 1 h: half an hour of steps redone
        assert redone == pytest.approx(16 * 0.5, rel=0.1)
    assert report.tenants["prod"].preemptions_caused == 1


def test_a_tenant_over_its_quota_waits_without_blocking_others() -> None:
    import simpy

    env = simpy.Environment()
    cluster = Cluster(env, nodes=1, gpus_per_node=8, quotas={"alpha": 4})
    first, second = cluster.request(3, tenant="alpha"), cluster.request(2, tenant="alpha")  # 5 > 4: waits
    other = cluster.request(2, tenant="beta")  # behind it in FIFO order, yet not blocked by it
    assert first.triggered and not second.triggered and other.triggered
    assert cluster.tenant_gpus == {"alpha": 3, "beta": 2}
    cluster.release(np.asarray(first.value))
    assert second.triggered and cluster.tenant_gpus["alpha"] == 2


QUOTA_TRACE = """submit_time,tenant,gpus,duration
0,alpha,4,1000
1,alpha,4,1000
2,alpha,4,1000
3,beta,4,1000
"""


def test_quotas_cap_a_tenant_and_show_in_the_tenant_report(tmp_path: Path) -> None:
    (tmp_path / "jobs.csv").write_text(QUOTA_TRACE, encoding="utf-8")
    free = run(tmp_path, jobs=[{"kind": "trace", "path": "jobs.csv"}])
    capped = run(tmp_path, jobs=[{"kind": "trace", "path": "jobs.csv"}], scheduler={"quotas": {"alpha": 4}})
    assert free.jobs is not None and capped.jobs is not None
    free_start = {r.name: r.started_s for r in free.jobs.rows}
    capped_start = {r.name: r.started_s for r in capped.jobs.rows}
    assert free_start == {"trace-0": 0.0, "trace-1": 1.0, "trace-2": 1000.0, "trace-3": 1001.0}
    # alpha runs one job at a time; beta's job, submitted last, starts while alpha's second waits
    assert capped_start == {"trace-0": 0.0, "trace-1": 1000.0, "trace-2": 2000.0, "trace-3": 3.0}
    assert capped.tenants["alpha"].quota_gpus == 4 and capped.tenants["beta"].quota_gpus is None
    assert capped.jobs.completed == 4


@pytest.mark.parametrize(("extra", "field", "words"), [
    ({"jobs": [{"kind": "generated", "count": 5, "rate": 1, "gpus": {"kind": "choice", "values": [1, 8]},
                "duration": {"kind": "exponential", "mean": 60}, "tenants": {"alpha": 1}}]},
     "jobs[0].gpus", ["jobs of up to 8 GPUs", "tenant 'alpha' may hold at most 4"]),
    ({"jobs": [{"kind": "trace", "path": "jobs.csv"}]}, "jobs[0].path", ["a job of 8 GPUs", "'alpha'"]),
    ({"workloads": [{"name": "tune", "kind": "training", "tenant": "alpha", "model": "gpt3-125m", "tokens": "1B",
                     "seq_len": 2048, "global_batch_size": 64, "parallelism": {"dp": 8}}]},
     "workloads.tune.tenant", ["it needs 8 GPUs", "at most 4"]),
    ({"workloads": [{"name": "chat", "kind": "inference", "tenant": "alpha", "model": "llama3.1-8b", "replicas": 3,
                     "tp": 2, "arrivals": {"kind": "poisson", "rate": 1, "requests": 10}, "input_tokens": 100,
                     "output_tokens": 10, "slo": {"ttft": "1 s", "tpot": "50 ms"}}]},
     "workloads.chat.tenant", ["it needs 6 GPUs", "at most 4"]),
])
def test_work_larger_than_its_tenants_quota_is_a_located_error(tmp_path: Path, extra: dict[str, object],
                                                               field: str, words: list[str]) -> None:
    (tmp_path / "jobs.csv").write_text("submit_time,tenant,gpus,duration\n0,alpha,8,10\n0,beta,8,10\n",
                                       encoding="utf-8")
    path = scenario_file(tmp_path, scheduler={"quotas": {"alpha": 4}}, **extra)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and f": {field}: " in result.stderr, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_fair_share_usage_decays_by_half_each_half_life() -> None:
    from simulator.engine.fairshare import FairShare

    share = FairShare(["a", "b"], {"a": 3.0}, half_life_s=100.0, weight=10.0)
    assert share.share == {"a": 0.75, "b": 0.25} and share.factor("a") == share.factor("b") == 1.0
    share.advance(100.0, {"a": 2})  # 2 GPUs for one half-life: 2 x 100 s / ln 2 x (1 - 1/2)
    assert share.usage_gpu_s["a"] == pytest.approx(100.0 / math.log(2.0))
    share.advance(200.0, {})  # idle for another half-life: half of it is left
    assert share.usage_gpu_s["a"] == pytest.approx(50.0 / math.log(2.0))
    assert share.factor("a") == pytest.approx(2.0 ** (-1 / 0.75)) and share.factor("b") == 1.0
    assert share.bonus("a") == pytest.approx(10.0 * share.factor("a"))


FAIR_TRACE = "submit_time,tenant,gpus,duration\n" + "0,alpha,1,3600\n" * 24 + "1,beta,1,3600\n" * 8


def test_fair_share_lets_a_light_tenant_past_a_heavy_ones_backlog(tmp_path: Path) -> None:
    """alpha queues 24 one-hour jobs a second before beta's 8, on 8 GPUs. By priority alone beta waits for all
    of alpha's; with fair share beta's jobs go first once alpha has used the cluster for an hour."""
    (tmp_path / "jobs.csv").write_text(FAIR_TRACE, encoding="utf-8")
    jobs = [{"kind": "trace", "path": "jobs.csv"}]
    plain = run(tmp_path, jobs=jobs, scheduler={"policy": "priority"})
    fair = run(tmp_path, jobs=jobs, scheduler={"policy": "priority", "fair_share": {"half_life": "1 d"}})

    def waits(report: Report, tenant: str) -> list[float]:
        assert report.jobs is not None
        return [r.queued_s for r in report.jobs.rows if r.tenant == tenant]

    assert max(waits(plain, "beta")) == pytest.approx(3 * 3600.0 - 1.0)  # behind all 24 of alpha's
    assert max(waits(fair, "beta")) == pytest.approx(3600.0 - 1.0)  # right after alpha's first hour
    assert sum(waits(fair, "alpha")) + sum(waits(fair, "beta")) == pytest.approx(
        sum(waits(plain, "alpha")) + sum(waits(plain, "beta")))  # the same hours of work, reordered
    alpha, beta = fair.tenants["alpha"], fair.tenants["beta"]
    assert alpha.fair_share_factor is not None and beta.fair_share_factor is not None
    assert alpha.fair_share_factor < beta.fair_share_factor < 1.0
    assert plain.tenants["alpha"].fair_share_factor is None


def test_fair_share_needs_an_ordering_policy(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, scheduler={"fair_share": {}}, jobs=[
        {"kind": "generated", "count": 2, "rate": 1, "gpus": {"kind": "choice", "values": [1]},
         "duration": {"kind": "exponential", "mean": 60}}])
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and ": scheduler: " in result.stderr and "not fifo" in result.stderr, result.stderr


@settings(max_examples=30, deadline=None)
@given(
    jobs=st.lists(st.tuples(st.integers(0, 3600), st.sampled_from(["a", "b", "c"]), st.sampled_from([1, 2, 4, 8, 16]),
                            st.integers(60, 7200), st.integers(0, 2), st.booleans()), min_size=1, max_size=40),
    quotas=st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from([16, 24, 32]), max_size=2),
    policy=st.sampled_from(["fifo", "priority", "backfill"]),
    fair=st.booleans(),
    preemption=st.booleans(),
)
def test_quotas_hold_and_every_job_is_accounted_under_any_policy(
        jobs: list[tuple[int, str, int, int, int, bool]], quotas: dict[str, int], policy: str, fair: bool,
        preemption: bool) -> None:
    """Random traces on 32 GPUs: no tenant ever holds more than its quota, no GPU is granted twice, and every
    job ends completed, running or queued, whatever the policy, fair share and preemption."""
    import tempfile

    original = Cluster._start

    def checked(self: Cluster, request: object, free_ids: np.ndarray) -> np.ndarray:
        assert self.free[free_ids].all()
        ids = original(self, request, free_ids)  # type: ignore[arg-type]
        assert np.isin(ids, free_ids).all() and np.unique(ids).size == ids.size
        for tenant, held in self.tenant_gpus.items():
            assert held <= self.quotas.get(tenant, self.gpus), (tenant, held)
        return ids

    trace = "submit_time,tenant,gpus,duration,priority,preemptible\n" + "".join(
        f"{t},{tenant},{gpus},{d},{p},{str(pre).lower()}\n" for t, tenant, gpus, d, p, pre in jobs)
    scheduler: dict[str, object] = {"policy": policy, "preemption": preemption, "quotas": quotas}
    if fair and policy != "fifo":
        scheduler["fair_share"] = {"half_life": "1 h", "weight": 2}
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(Cluster, "_start", checked)
        (Path(folder) / "jobs.csv").write_text(trace, encoding="utf-8")
        extra = {"cluster": {"accelerator": "h100-sxm", "nodes": 4, "gpus_per_node": 8,
                             "topology": {"kind": "single_switch"}},
                 "horizon": "6 h", "scheduler": scheduler, "jobs": [{"kind": "trace", "path": "jobs.csv"}]}
        report = run(Path(folder), **extra)
    assert report.jobs is not None
    assert report.jobs.completed + report.jobs.running + report.jobs.queued == len(jobs)
    assert report.cluster.allocation <= 1.0


TOKEN_TRACE = """submit_time,tenant,gpus,duration,tokens,model
0,research,8,,2B,gpt3-1.3b
0,research,16,,2B,
10,vision,8,3600,,
"""


def test_trace_jobs_given_tokens_run_for_their_training_time(tmp_path: Path) -> None:
    """A row with tokens runs for tokens / the fastest layout's throughput of its model on its GPUs (the trace's
    model where the row names none); twice the GPUs train the same tokens in about half the time."""
    from simulator import catalog
    from simulator.plan.job_pricing import fastest_layout
    from simulator.scenario.schema import ClusterSpec

    (tmp_path / "jobs.csv").write_text(TOKEN_TRACE, encoding="utf-8")
    cluster = {"accelerator": "h100-sxm", "nodes": 4, "gpus_per_node": 8, "topology": {"kind": "fat_tree"}}
    report = run(tmp_path, cluster=cluster, jobs=[{"kind": "trace", "path": "jobs.csv", "model": "gpt3-1.3b"}])
    assert report.jobs is not None and report.jobs.completed == 3
    rows = {r.name: r for r in report.jobs.rows}
    layout = fastest_layout(catalog.model("gpt3-1.3b"), ClusterSpec.model_validate(cluster), 8, 4096, 4 * 2**20)
    assert layout is not None and rows["trace-0"].duration_s == pytest.approx(2e9 / layout.tokens_per_s)
    assert (rows["trace-0"].model, rows["trace-0"].tokens) == ("gpt3-1.3b", 2e9)
    assert rows["trace-1"].model == "gpt3-1.3b"  # from the trace's model
    assert 0.4 < rows["trace-1"].duration_s / rows["trace-0"].duration_s < 0.6
    assert (rows["trace-2"].model, rows["trace-2"].tokens, rows["trace-2"].duration_s) == (None, None, 3600.0)


@pytest.mark.parametrize(("row", "words"), [
    ("0,a,8,,1B,gpt3-13b-typo", ["line 2", "'model'", "gpt3"]),
    ("0,a,8,,1B,", ["line 2", "needs a model"]),
    ("0,a,1,,1B,llama3.1-405b", ["line 2", "llama3.1-405b fits no layout of 1 h100-sxm"]),
    ("0,a,8,,,gpt3-1.3b", ["line 2", "one of the two"]),
    ("0,a,8,60,1B,gpt3-1.3b", ["line 2", "one of the two"]),
])
def test_bad_token_rows_are_located(tmp_path: Path, row: str, words: list[str]) -> None:
    (tmp_path / "jobs.csv").write_text(f"submit_time,tenant,gpus,duration,tokens,model\n{row}\n", encoding="utf-8")
    path = scenario_file(tmp_path, jobs=[{"kind": "trace", "path": "jobs.csv"}])
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and ": jobs[0].path: " in result.stderr, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_compare_puts_jobs_and_tenants_side_by_side() -> None:
    """Backfill or plain priority on the job-trace scenario: the comparison ratios jobs and tenants too."""
    import json

    result = CliRunner().invoke(main, ["compare", "scenarios/job-trace.yaml", "--json",
                                       "--vary", "scheduler.policy=backfill,priority"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    backfill, priority = runs[0]["ratios"], runs[1]["ratios"]
    assert backfill["jobs.mean_queued_s"] == 1.0 and priority["jobs.mean_queued_s"] > 1.0  # backfill helps
    assert priority["tenants.nlp.gpu_hours"] == pytest.approx(1.0)  # the same work, queued longer
    assert {"tenants.interns.batch_mean_queued_s", "jobs.preemptions"} <= set(priority)
