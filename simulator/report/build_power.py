"""The run's power over time and its site power section (docs/fleets.md), from the sampled IT power and the
site plan; present only where the scenario has `cluster.site_power`."""

from __future__ import annotations

from simulator.engine.sampler import Gauge, GaugeKind, Samples
from simulator.engine.site_power import SiteAdmission
from simulator.plan.site_power import SitePlan
from simulator.report.model import ClusterReport
from simulator.report.power import SitePowerReport
from simulator.report.series import TimeSeries
from simulator.units import JOULES_PER_KWH


def with_site_power(cluster: ClusterReport, series: TimeSeries, site: SitePlan, samples: Samples, now: float,
                    admission: SiteAdmission | None) -> tuple[ClusterReport, TimeSeries]:
    """The cluster report with its site power section, and the series with IT and facility power (where sampled)."""
    it_w = samples.values.get(Gauge(GaugeKind.IT_POWER), [])
    facility = [w * site.pue for w in it_w]
    mean_w = cluster.energy_kwh * JOULES_PER_KWH / now if now > 0 else 0.0
    waits = admission.waiting_s(now) if admission is not None else []
    section = SitePowerReport(
        budget_w=site.spec.budget_w, policy=site.spec.policy, cap_fraction=site.fraction, caps_w=site.caps_w,
        uncapped_full_load_w=site.uncapped_facility_w, full_load_w=site.facility_w,
        peak_facility_w=max(facility, default=mean_w), mean_facility_w=mean_w,
        power_waits=len(waits), mean_power_wait_s=sum(waits) / len(waits) if waits else 0.0,
        max_power_wait_s=max(waits, default=0.0),
    )
    sampled = series.model_copy(update={"it_power_w": it_w, "facility_power_w": facility}) if it_w else series
    return cluster.model_copy(update={"site_power": section}), sampled
