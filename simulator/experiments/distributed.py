"""Sweeps on an existing Ray cluster (or a local one): chunks of replicate seeds run as Ray tasks and come
back to the same aggregation as the process pool, so the same seeds give the same results. Ray is optional
(`pip install clustersim[ray]`)."""

from __future__ import annotations

from typing import Any

from simulator.experiments.montecarlo import Finished, Plans, RemoteRunner, simulate_seeds


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


def ray_runner(address: str | None = None, cpus: int | None = None) -> RemoteRunner:
    """A runner for montecarlo.run_batches that connects to Ray at `address` (None: start a local Ray with
    `cpus` CPUs, default all) on first use."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("ray is not installed: pip install 'clustersim[ray]' (or pip install ray)") from None

    def run(plans: Plans, chunk: int) -> Finished:
        if not ray.is_initialized():
            try:
                ray.init(address=address, num_cpus=None if address else cpus, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {err}") from None
        task: Any = ray.remote(simulate_seeds)
        where: dict[Any, tuple[int, int]] = {}
        for index, (scenario, seeds) in enumerate(plans):
            for offset in range(0, len(seeds), chunk):
                where[task.remote(scenario, seeds[offset:offset + chunk])] = (index, offset)
        pending = list(where)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield (*where[ref], ray.get(ref))

    return run
