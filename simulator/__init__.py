"""clustersim: a discrete-event simulator of AI compute clusters (training, serving, failures, cost).

`import simulator as cs` gives the Python API (simulator/api.py): cs.load, cs.simulate, cs.replicates, cs.sweep,
cs.compare, cs.plan_capacity and cs.ScenarioError. They are imported on first use, so that the command line
starts fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from simulator.api import compare, load, plan_capacity, replicates, simulate, sweep
    from simulator.scenario.loader import ScenarioError

_API = {"load": "simulator.api", "simulate": "simulator.api", "replicates": "simulator.api",
        "compare": "simulator.api", "sweep": "simulator.api", "plan_capacity": "simulator.api",
        "ScenarioError": "simulator.scenario.loader"}
__all__ = ["ScenarioError", "__version__", "compare", "load", "plan_capacity", "replicates", "simulate", "sweep"]


def __getattr__(name: str) -> Any:
    """The API's functions, imported when first asked for."""
    if name not in _API:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_API[name]), name)
