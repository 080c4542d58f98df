"""Property test of the failure engine: whatever fails, however the job recovers, nothing crashes, no step
is lost from the books and every second of the job's wall clock is accounted for."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from simulator.plan.load import validate_data
from simulator.run import simulate
from simulator.scenario.loader import ScenarioError
from simulator.scenario.yaml_lines import LocatedData

components = st.fixed_dictionaries({
    "scope": st.sampled_from(["gpu", "node", "leaf", "rack", "link", "storage"]),
    "mtbf_h": st.floats(5.0, 500.0),
    "distribution": st.sampled_from(["exponential", "weibull", "periodic"]),
    "shape": st.floats(0.3, 3.0),
    "repair_h": st.floats(0.0, 12.0),
    "sigma": st.floats(0.0, 1.5),
    "effect": st.sampled_from(["crash", "slowdown"]),
    "offenders": st.floats(0.0, 0.5),
})


def _component(index: int, c: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": f"c{index}", "scope": c["scope"], "mtbf": f"{c['mtbf_h']} h",
                            "distribution": c["distribution"],
                            "repair": {"median": f"{c['repair_h']} h", "sigma": c["sigma"]},
                            "repeat_offender_fraction": c["offenders"], "repeat_offender_factor": 3}
    if c["distribution"] == "weibull":
        spec["weibull_shape"] = c["shape"]
    if c["scope"] not in ("link", "storage"):
        spec["effect"] = c["effect"]
    return spec


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    failing=st.lists(components, min_size=1, max_size=3),
    topology=st.sampled_from([{"kind": "fat_tree", "radix": 16, "oversubscription": 2},
                              {"kind": "fat_tree", "radix": 64, "rail_optimized": True, "nodes_per_su": 4},
                              {"kind": "ocs_torus", "cube": [2, 2, 2], "slice": [2, 2, 4], "spare_cubes": 1},
                              {"kind": "torus", "dims": [4, 4, 4]}]),
    interval_min=st.sampled_from([0, 10, 60]),
    mode=st.sampled_from(["sync", "async"]),
    spares=st.integers(0, 2),
    on_no_spare=st.sampled_from(["wait", "shrink", "requeue"]),
    seed=st.integers(0, 2**32),
)
def test_the_books_always_balance(failing: list[dict[str, Any]], topology: dict[str, Any], interval_min: int,
                                  mode: str, spares: int, on_no_spare: str, seed: int) -> None:
    ocs = topology["kind"] == "ocs_torus"
    nodes = 12 if ocs else 8  # an OCS slice of 2 cubes of 8 chips (4 nodes of 2 each) plus a spare cube
    gpn = 2 if ocs else 8
    world = 16 if ocs else 64 - (0 if topology["kind"] == "torus" else 8 * spares)
    data = {
        "name": "fuzz", "seed": seed, "horizon": "5 d",
        "cluster": {"accelerator": "a100-80gb-sxm", "nodes": nodes, "gpus_per_node": gpn, "topology": topology},
        "pricing": {"gpu_hour_usd": 1.0},
        "failures": {"components": [_component(i, c) for i, c in enumerate(failing)]},
        "workloads": [{
            "name": "job", "kind": "training", "model": "gpt3-350m", "tokens": "10T", "seq_len": 2048,
            "global_batch_size": world, "parallelism": {"dp": world},
            "checkpoint": ({"policy": "fixed", "interval": f"{interval_min} min", "write": "30 s", "mode": mode}
                           if interval_min else {"policy": "none"}),
            "recovery": {"detection": "2 min", "restart": "3 min",
                         "spare_nodes": 0 if ocs or topology["kind"] == "torus" else spares,
                         "on_no_spare": on_no_spare},
        }],
    }
    try:
        scenario = validate_data(LocatedData(data), "fuzz")
    except ScenarioError:
        reject()  # a combination the loader refuses (with a located error) is not a case to simulate
    report = simulate(scenario)
    job = report.workloads["job"]
    assert job.steps + job.steps_remaining == job.steps_total
    assert job.interruptions == sum(job.interruptions_by_cause.values())
    losses = job.losses
    accounted = (job.steps * job.step_time_s * job.gpus / 3600 + losses.redone_work_gpu_hours
                 + losses.detection_gpu_hours + losses.waiting_gpu_hours + losses.restart_gpu_hours
                 + losses.restore_gpu_hours + losses.checkpoint_gpu_hours + losses.slowdown_gpu_hours)
    wall = (job.wall_clock_s - job.queued_s - job.requeued_s) * job.gpus / 3600  # while it held its GPUs
    # everything but the partial step under way at the horizon
    # all but the partial step under way at the horizon: one step, even at 100x its pace when slowed
    partial = 100 * job.step_time_s * job.gpus / 3600
    assert wall - partial - 1e-6 <= accounted <= wall + 1e-6
    assert 0 <= job.ettr <= 1
