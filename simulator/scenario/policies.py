"""The names of the engine's pluggable policies (routers, autoscaling load metrics, admission, scheduling), declared
once here so the schema can validate and document them while the engine, which sits above, implements them.

Why the names live here and the implementations in the engine: imports only go downward, so the schema cannot
ask the engine what exists. Each kind of policy is one Literal below: pydantic checks a scenario against it
(an unknown name is a located error listing the allowed ones), the field reference and JSON schema list it,
and the engine registers one class under each name with a decorator typed by the same Literal (mypy rejects a
name not declared here; engine/registry.py refuses one at import, and tests/test_serving_policies.py and
tests/test_effects.py check every declared name has exactly one implementation and every implementation a
declared name). Adding a
policy is: its name here, and a registered class in the engine.
"""

from __future__ import annotations

from typing import Literal

RouterName = Literal["round_robin", "least_outstanding", "power_of_two", "kv_aware", "prefix_aware"]
LoadMetricName = Literal["outstanding", "busy"]
AdmissionName = Literal["fcfs"]
SchedulerName = Literal["fifo", "priority", "backfill"]
PlacementName = Literal["topology_aware", "packed", "spread", "random"]
