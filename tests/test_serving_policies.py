"""Serving policies registered by name (routers, autoscaling metrics, admission): every name the scenario layer
declares has exactly one implementation and back, an unknown name is a located error listing the allowed ones,
the replica really asks its admission policy, and work lost to replica failures is priced as failure cost."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import simpy
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator.engine.registry import Registry
from simulator.engine.serving.admission import ADMISSIONS, FirstComeFirstServed
from simulator.engine.serving.autoscaler import METRICS, Busy, LoadMetric, Outstanding
from simulator.engine.serving.deployment import Deployment, Outage, deploy_serving, simulate_serving
from simulator.engine.serving.replica import Admission, Replica
from simulator.engine.serving.requests import Seq, ServingOutcome
from simulator.engine.serving.router import ROUTERS, Router
from simulator.models.workload.arrivals import poisson_arrivals_s
from simulator.plan.limits import ReplicaLimits
from simulator.plan.load import load_scenario
from simulator.plan.serving import DecodePool
from simulator.report.model import InferenceReport
from simulator.run import simulate
from simulator.scenario.inference import InferenceWorkload
from simulator.scenario.loader import ScenarioError
from simulator.scenario.policies import AdmissionName, LoadMetricName, RouterName
from tests.test_inference_scenarios import BASE
from tests.test_serving_engine import TICK_S, FixedIterations

LIMITS = ReplicaLimits(max_batch=64, max_num_tokens=512, kv_blocks=10_000, block_tokens=16)

# the inference scenarios' base, with the router spelled out and generated Poisson arrivals instead of a trace
SCENARIO = BASE.replace("    slo:", "    router: least_outstanding\n    slo:").replace(
    "    arrivals:\n      kind: trace\n      path: trace.csv\n",
    "    arrivals: {kind: poisson, rate: 4, requests: 400}\n    input_tokens: 600\n    output_tokens: 150\n")


def _admission_like(implementation: type) -> bool:
    return all(callable(getattr(implementation, verb, None)) for verb in ("admit", "make_room", "chunks"))


@pytest.mark.parametrize(("registry", "declared", "implements"), [
    (ROUTERS, RouterName, lambda c: issubclass(c, Router)),
    (METRICS, LoadMetricName, lambda c: issubclass(c, LoadMetric)),
    (ADMISSIONS, AdmissionName, _admission_like),
], ids=["routers", "metrics", "admission"])
def test_every_declared_name_has_one_implementation_and_back(registry: Registry[Any, Any], declared: Any,
                                                             implements: Callable[[type], bool]) -> None:
    assert sorted(registry.names) == sorted(get_args(declared))
    assert registry.declared == get_args(declared)
    for name in registry.names:
        assert isinstance(registry[name], type) and implements(registry[name]), name


def test_the_schema_takes_its_allowed_names_from_the_declarations() -> None:
    schema = InferenceWorkload.model_json_schema(by_alias=True)
    assert schema["properties"]["router"]["enum"] == list(get_args(RouterName))
    metric = schema["$defs"]["AutoscalingSpec"]["properties"]["metric"]
    assert metric["enum"] == list(get_args(LoadMetricName))


def test_a_registry_refuses_undeclared_names_duplicates_and_unknown_lookups() -> None:
    registry: Registry[str, type] = Registry("widget", ("a", "b"))
    registry.register("a")(int)
    with pytest.raises(ValueError, match=r"widget 'c' is not declared .*declared: a, b"):
        registry.register("c")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")
    with pytest.raises(KeyError, match=r"unknown widget 'b'; allowed: a"):
        registry["b"]  # declared but not implemented
    assert registry["a"] is int and registry.names == ("a",)


@pytest.mark.parametrize(("edit", "field"), [
    (("router: least_outstanding", "router: fastest"), "workloads.chat.router"),
    (("    router: least_outstanding\n", "    autoscaling: {max_replicas: 6, metric: latency}\n"),
     "workloads.chat.autoscaling.metric"),
], ids=["router", "metric"])
def test_an_unknown_policy_name_is_a_located_error_listing_the_allowed_ones(
        tmp_path: Path, edit: tuple[str, str], field: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace(*edit), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    [issue] = caught.value.issues
    assert issue.location == f"{path}:{SCENARIO.splitlines().index('    router: least_outstanding') + 1}"
    assert issue.field == field
    allowed = get_args(RouterName if field.endswith("router") else LoadMetricName)
    assert all(repr(name) in issue.message for name in allowed), issue.message


def deployed(env: simpy.Environment, arrival_s: list[float], inputs: list[int], outputs: list[int],
             limits: ReplicaLimits = LIMITS) -> Deployment:
    return deploy_serving(env, FixedIterations(), limits, 1, np.array(arrival_s), np.array(inputs), np.array(outputs),
                          "round_robin", np.random.default_rng(0))


def run_with(admission: Admission, limits: ReplicaLimits = LIMITS) -> ServingOutcome:
    """Three requests at once on one replica whose admission policy is `admission`."""
    env = simpy.Environment()
    deployment = deployed(env, [0.0] * 3, [1000] * 3, [20] * 3, limits)
    for replica in deployment.pool:
        replica.policy(admission)
    deployment.bring_up()
    assert deployment.done is not None
    env.run(until=deployment.done)
    return deployment.close()


class LikeFcfs:
    """A policy of one's own (a protocol, not a subclass: the shipped policies are compiled classes), doing
    what FCFS does unless told otherwise."""

    def __init__(self) -> None:
        self.fcfs = FirstComeFirstServed()

    def admit(self, replica: Replica) -> None:
        self.fcfs.admit(replica)

    def make_room(self, replica: Replica, used_blocks: int) -> None:
        self.fcfs.make_room(replica, used_blocks)

    def chunks(self, replica: Replica, decodes: int, prefilling: list[Seq]) -> list[tuple[Seq, int]]:
        return self.fcfs.chunks(replica, decodes, prefilling)


class OneAtATime(LikeFcfs):
    """Admits only into an empty batch."""

    def admit(self, replica: Replica) -> None:
        if replica.waiting and not replica.batch_size:
            seq = replica.waiting.popleft()
            replica.enter(seq, replica.lookup(seq))


class WholePrompts(LikeFcfs):
    """No chunked prefill: each iteration prefills whole prompts."""

    def chunks(self, replica: Replica, decodes: int, prefilling: list[Seq]) -> list[tuple[Seq, int]]:
        return [(seq, seq.prefill_target - seq.prefilled) for seq in prefilling]


def test_deployments_use_the_registered_policies_by_name() -> None:
    env = simpy.Environment()
    for name in get_args(RouterName):
        deployment = deploy_serving(env, FixedIterations(), LIMITS, 2, np.zeros(1), np.ones(1), np.ones(1), name,
                                    np.random.default_rng(0))
        assert type(deployment.router) is ROUTERS[name]
        assert all(type(r.admission) is ADMISSIONS["fcfs"] for r in deployment.pool)


def test_the_replica_admits_what_its_admission_policy_says() -> None:
    default = run_with(FirstComeFirstServed())
    serial = run_with(OneAtATime())
    batch_of_one = run_with(FirstComeFirstServed(), ReplicaLimits(1, 512, 10_000, 16))
    np.testing.assert_allclose(serial.finish_s, batch_of_one.finish_s)  # the policy did what max_batch=1 does
    assert np.nanmax(default.finish_s) < np.nanmax(serial.finish_s)
    # 3,000 prompt tokens in 512-token chunks take 6 iterations; the last request's first token comes with the 6th
    assert default.first_token_s[2] == pytest.approx(6 * TICK_S)


def test_the_replica_prefills_the_chunks_its_policy_picks() -> None:
    whole = run_with(WholePrompts())
    assert np.allclose(whole.first_token_s, TICK_S)  # every prompt in the first iteration
    assert whole.busy_s[0] == pytest.approx(20 * TICK_S)


def test_the_load_metrics_read_queue_length_and_busy_time() -> None:
    env = simpy.Environment()
    deployment = deployed(env, [0.0], [10], [5])
    replica = deployment.pool[0]
    outstanding, busy = Outstanding(deployment.pool, 2.0), Busy(deployment.pool, 2.0)
    replica.waiting.extend(Seq(i, 10, 5, 10) for i in range(3))
    assert outstanding.read([replica], 1) == 4.0
    assert outstanding.read([], 2) == 2.0  # nothing serves: the stranded requests are the load
    replica.busy_s += 1.5
    assert busy.read([replica], 0) == pytest.approx(0.75)
    assert busy.read([replica], 0) == 0.0  # nothing new since the last reading
    assert math.isinf(busy.read([], 0))


def test_a_crash_writes_off_the_iterations_of_the_requests_it_loses() -> None:
    out = simulate_serving(FixedIterations(), LIMITS, 1, np.array([0.0]), np.array([100]), np.array([100]),
                           "round_robin", np.random.default_rng(0), None, None, [Outage(0.5, 0, 1.0)])
    # the prefill (0.00-0.01) and the decode run cut at 0.5 were for the request that restarts at 1.5
    assert out.lost_s[0] == pytest.approx(0.5)
    assert out.busy_s[0] == pytest.approx(0.5 + 99 * TICK_S)


def test_a_crashed_decode_replica_also_writes_off_the_prefill_it_received() -> None:
    decode = DecodePool(FixedIterations(), LIMITS, 1, transfer_s_per_token=1e-4)
    out = simulate_serving(FixedIterations(), LIMITS, 1, np.array([0.0]), np.array([100]), np.array([100]),
                           "round_robin", np.random.default_rng(0), None, decode, [Outage(0.5, 1, 1.0)])
    moved_s = TICK_S + 101 * 1e-4  # the prefill, then the KV transfer
    assert out.lost_s[1] == pytest.approx(0.5 - moved_s)  # the decode run in flight
    assert out.lost_s[0] == pytest.approx(TICK_S)  # the prompt's prefill, redone after the retry
    assert np.isfinite(out.finish_s[0])


def test_finished_work_is_never_written_off() -> None:
    out = simulate_serving(FixedIterations(), LIMITS, 1, np.array([0.0, 0.1]), np.array([10, 10]),
                           np.array([30, 100]), "round_robin", np.random.default_rng(0), None, None,
                           [Outage(0.5, 0, 1.0)])
    # the second request is lost at 0.5: its 10 of the 11 tokens of the iteration at 0.11 (its prompt, next to
    # the first's decode), half of the two decodes' run 0.12-0.30, and its own decode run in flight since 0.30;
    # the first request, finished at 0.30, keeps the rest of the 0.5 s it shared
    assert out.lost_s[0] == pytest.approx(TICK_S * 10 / 11 + 0.18 / 2 + 0.2)
    assert out.finish_s[0] == pytest.approx(0.3) and out.busy_s[0] > 0.5


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(0, 1),
       st.lists(st.tuples(st.floats(0.0, 3.0), st.integers(0, 3), st.floats(0.01, 1.0)), max_size=3))
@example(3376, 3, 0, [(0.75, 0, 0.25)])  # a swapped request rerouted after a crash met its old batch's heap entry
def test_written_off_time_is_part_of_the_busy_time_and_needs_a_failure(
        seed: int, replicas: int, decoders: int, crashes: list[tuple[float, int, float]]) -> None:
    rng = np.random.default_rng(seed)
    count = 40
    arrival = poisson_arrivals_s(20.0, count, rng)
    inputs, outputs = rng.integers(1, 1500, count), rng.integers(1, 300, count)
    limits = ReplicaLimits(8, 512, 150, 16, swap_s_per_token=1e-5 if seed % 2 else 0.0)
    decode = DecodePool(FixedIterations(), limits, decoders, 1e-4) if decoders else None
    outages = [Outage(start, replica % (replicas + decoders), duration) for start, replica, duration in crashes]
    out = simulate_serving(FixedIterations(), limits, replicas, arrival, inputs, outputs, "least_outstanding", rng,
                           None, decode, outages)
    assert np.all(out.lost_s >= -1e-12) and np.all(out.lost_s <= out.busy_s + 1e-9)
    if out.outages == 0:
        assert not out.lost_s.any()


def test_replica_failures_cost_money_and_the_parts_still_sum_to_the_whole(tmp_path: Path) -> None:
    data = yaml.safe_load(SCENARIO)
    data["failures"] = {"components": [{"name": "node", "scope": "node", "mtbf": "1 min",
                                        "distribution": "exponential", "repair": {"median": "20 s", "sigma": 0.1}}]}
    path = tmp_path / "failing.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    report = simulate(load_scenario(path))
    w = report.workloads["chat"]
    assert isinstance(w, InferenceReport) and w.replica_failures > 0
    parts = w.cost_breakdown
    assert parts.failure_usd > 0 and parts.checkpoint_usd == 0
    assert parts.useful_usd + parts.failure_usd + parts.idle_usd + parts.energy_usd == pytest.approx(w.cost_usd)
    # the cluster's books agree: the only workload's lost work is the cluster's failure cost, and not productive
    whole = report.cluster.cost_breakdown
    assert whole.failure_usd == pytest.approx(parts.failure_usd)
    assert whole.useful_usd == pytest.approx(parts.useful_usd)
    assert report.cluster.utilization == pytest.approx(
        parts.useful_usd / report.cluster.gpu_hour_usd / report.cluster.gpu_hours)
    calm = tmp_path / "calm.yaml"
    calm.write_text(SCENARIO, encoding="utf-8")
    assert simulate(load_scenario(calm)).workloads["chat"].cost_breakdown.failure_usd == 0.0
