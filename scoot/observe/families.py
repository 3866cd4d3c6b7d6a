"""The Prometheus families of one scrape, built from what the metrics state holds.

Pure builders: each takes the tally, the live view or the event counts and
yields families; `exposition` turns families into the text format. The
family names and labels are the contract the shipped alert rules and
dashboard query (deploy/prometheus/).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

from scoot import __version__

if TYPE_CHECKING:
    from scoot.observe.metrics import RunTally


@dataclass(frozen=True)
class LiveView:
    """What the running loop knows at one instant."""

    jobs: dict[str, str]  # job id -> active | inactive | paused
    next_fires: dict[str, float]
    periods: dict[str, float]  # seconds between a job's fires (one-shots absent)
    in_flight: int
    queued: int
    record_write_errors: int
    heartbeat: float  # when the loop last completed a poll


@dataclass
class EventCounts:
    """What the loop's run events and the notifier's audit events counted."""

    missed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    notify: Counter[tuple[str, str]] = field(default_factory=Counter)


def live_families(view: LiveView, *, up: bool) -> Iterator[Metric]:
    """The loop itself: up, version, heartbeat, jobs by state, runs in flight and queued."""
    alive = GaugeMetricFamily("scoot_up", "1 while the scheduler loop runs")
    alive.add_metric([], 1.0 if up else 0.0)
    yield alive
    info = GaugeMetricFamily("scoot_build_info", "The running scoot version", labels=["version"])
    info.add_metric([__version__], 1.0)
    yield info
    beat = GaugeMetricFamily(
        "scoot_heartbeat_timestamp_seconds", "When the scheduler loop last completed a poll"
    )
    beat.add_metric([], view.heartbeat)
    yield beat
    states = Counter(view.jobs.values())
    jobs = GaugeMetricFamily("scoot_jobs", "Configured valid jobs by state", labels=["state"])
    for state in ("active", "inactive", "paused"):
        jobs.add_metric([state], float(states.get(state, 0)))
    yield jobs
    in_flight = GaugeMetricFamily("scoot_runs_in_flight", "Runs executing now")
    in_flight.add_metric([], float(view.in_flight))
    yield in_flight
    queued = GaugeMetricFamily("scoot_runs_queued", "Runs waiting for a free slot")
    queued.add_metric([], float(view.queued))
    yield queued


def tally_families(tally: RunTally) -> Iterator[Metric]:
    """What runs.jsonl tells: runs, durations, lateness, last runs and successes, tokens."""
    runs = CounterMetricFamily(
        "scoot_runs", "Finished runs (lines of runs.jsonl)", labels=["job", "status"]
    )
    for (job, status), count in sorted(tally.runs.items()):
        runs.add_metric([job, status], float(count))
    yield runs
    durations = HistogramMetricFamily(
        "scoot_run_duration_seconds", "How long runs took", labels=["job"]
    )
    for job, hist in sorted(tally.durations.items()):
        durations.add_metric([job], hist.cumulative(), hist.total)
    yield durations
    lateness = HistogramMetricFamily(
        "scoot_fire_lateness_seconds", "How long after its instant a scheduled run started"
    )
    lateness.add_metric([], tally.lateness.cumulative(), tally.lateness.total)
    yield lateness
    yield per_job_gauge(
        "scoot_last_run_timestamp_seconds", "When each job's last run ended", tally.last_run
    )
    yield per_job_gauge(
        "scoot_last_success_timestamp_seconds",
        "When each job's last successful run ended",
        tally.last_success,
    )
    tokens = CounterMetricFamily(
        "scoot_tokens", "Model tokens used, from the run records", labels=["job", "direction"]
    )
    for (job, direction), count in sorted(tally.tokens.items()):
        tokens.add_metric([job, direction], float(count))
    yield tokens
    bad = CounterMetricFamily(
        "scoot_runs_unparseable_lines", "Lines of runs.jsonl that are not a run record"
    )
    bad.add_metric([], float(tally.unparseable))
    yield bad


def schedule_families(view: LiveView) -> Iterator[Metric]:
    """Each job's next fire and period."""
    yield per_job_gauge(
        "scoot_next_fire_timestamp_seconds",
        "Each job's next scheduled instant",
        view.next_fires,
    )
    yield per_job_gauge(
        "scoot_job_period_seconds",
        "Seconds between a job's scheduled fires (for 'has not succeeded in N periods')",
        view.periods,
    )


def event_families(view: LiveView, counts: EventCounts) -> Iterator[Metric]:
    """What the loop counted since it started: misses, skips, deliveries, failed writes."""
    missed = CounterMetricFamily(
        "scoot_missed", "Scheduled instants missed since the loop started", labels=["job"]
    )
    for job, count in sorted(counts.missed.items()):
        missed.add_metric([job], float(count))
    yield missed
    skipped = CounterMetricFamily(
        "scoot_skipped",
        "Instants skipped because the previous run still ran, since the loop started",
        labels=["job"],
    )
    for job, count in sorted(counts.skipped.items()):
        skipped.add_metric([job], float(count))
    yield skipped
    notify = CounterMetricFamily(
        "scoot_notify",
        "Notification delivery attempts since the loop started, by target and result",
        labels=["target", "result"],
    )
    for (target, result), count in sorted(counts.notify.items()):
        notify.add_metric([target, result], float(count))
    yield notify
    errors = CounterMetricFamily(
        "scoot_record_write_errors",
        "Failed writes of run records and transcripts since the loop started",
    )
    errors.add_metric([], float(view.record_write_errors))
    yield errors


def per_job_gauge(name: str, doc: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["job"])
    for job, value in sorted(values.items()):
        family.add_metric([job], value)
    return family


class _Families:
    """A collector that yields families already built."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
