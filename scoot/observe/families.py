"""The Prometheus families of one scrape, built from what the metrics state holds.

Pure builders: each takes the tally, the live view or the event counts and
yields families; `exposition` turns families into the text format. The
family names and labels are the contract the shipped alert rules and
dashboard query (deploy/prometheus/).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

from scoot import __version__
from scoot.shared.value_class import value_class

if TYPE_CHECKING:
    from scoot.observe.metrics import RunTally

JOB_STATES = ("active", "inactive", "paused")  # every state is shown, at 0 when no job has it


@value_class
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
    yield _single(GaugeMetricFamily, "scoot_up", "1 while the scheduler loop runs", up)
    yield _family(
        GaugeMetricFamily,
        "scoot_build_info",
        "The running scoot version",
        ["version"],
        {__version__: 1.0},
    )
    yield _single(
        GaugeMetricFamily,
        "scoot_heartbeat_timestamp_seconds",
        "When the scheduler loop last completed a poll",
        view.heartbeat,
    )
    states = Counter(view.jobs.values())
    yield _family(
        GaugeMetricFamily,
        "scoot_jobs",
        "Configured valid jobs by state",
        ["state"],
        {state: states.get(state, 0) for state in JOB_STATES},
    )
    yield _single(GaugeMetricFamily, "scoot_runs_in_flight", "Runs executing now", view.in_flight)
    yield _single(
        GaugeMetricFamily, "scoot_runs_queued", "Runs waiting for a free slot", view.queued
    )


def tally_families(tally: RunTally) -> Iterator[Metric]:
    """What runs.jsonl tells: runs, durations, lateness, last runs and successes, tokens."""
    yield _family(
        CounterMetricFamily,
        "scoot_runs",
        "Finished runs (lines of runs.jsonl)",
        ["job", "status"],
        tally.runs,
    )
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
    yield _family(
        CounterMetricFamily,
        "scoot_tokens",
        "Model tokens used, from the run records",
        ["job", "direction"],
        tally.tokens,
    )
    yield _single(
        CounterMetricFamily,
        "scoot_runs_unparseable_lines",
        "Lines of runs.jsonl that are not a run record",
        tally.unparseable,
    )


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
    yield _family(
        CounterMetricFamily,
        "scoot_missed",
        "Scheduled instants missed since the loop started",
        ["job"],
        counts.missed,
    )
    yield _family(
        CounterMetricFamily,
        "scoot_skipped",
        "Instants skipped because the previous run still ran, since the loop started",
        ["job"],
        counts.skipped,
    )
    yield _family(
        CounterMetricFamily,
        "scoot_notify",
        "Notification delivery attempts since the loop started, by target and result",
        ["target", "result"],
        counts.notify,
    )
    yield _single(
        CounterMetricFamily,
        "scoot_record_write_errors",
        "Failed writes of run records and transcripts since the loop started",
        view.record_write_errors,
    )


def per_job_gauge(name: str, doc: str, values: Mapping[str, float]) -> Metric:
    return _family(GaugeMetricFamily, name, doc, ["job"], values)


def _family(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    doc: str,
    labels: list[str],
    values: Mapping[Any, float],
) -> Metric:
    """A gauge or counter with one sample per key of `values` (a label value or a
    tuple of them), in key order."""
    family = kind(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], float(value))
    return family


def _single(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily], name: str, doc: str, value: float
) -> Metric:
    """A gauge or counter with one unlabelled sample."""
    family = kind(name, doc)
    family.add_metric([], float(value))
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
