"""Prometheus families of a scheduler loop, built from a snapshot at each scrape.

Run counts, durations and lateness come from state/runs.jsonl itself: the
tally follows the file, so its counters equal its lines (runs of every
process sharing the runtime directory included) and a restart picks them up
again instead of starting from zero. What only the loop knows (in flight,
queued, next fires, misses) comes from the loop's run events and a live view.

The families themselves are built in families.py. prometheus_client is
imported there only, and nothing imports these modules unless `[metrics]` is
configured, so other commands never pay for it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from scoot.observe.families import (
    EventCounts,
    LiveView,
    event_families,
    exposition,
    live_families,
    schedule_families,
    tally_families,
)
from scoot.records.files import atomic_write_bytes
from scoot.records.run_facts import lateness_of, ran

if TYPE_CHECKING:
    from prometheus_client.core import Metric

# Agent runs take seconds to minutes.
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# A fire is normally milliseconds late; seconds mean a busy machine or full slots.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# At start the tally reads at most this much of runs.jsonl's end (tens of thousands of runs).
SEED_WINDOW_BYTES = 16 * 1024 * 1024
# The notifier's audit kinds and the `result` label each one counts as.
DELIVERY_RESULTS = {
    "notify_sent": "sent",
    "notify_failed": "failed",
    "notify_abandoned": "abandoned",
}
AD_HOC_JOB = ""  # the job label of `scoot -e` runs, which belong to no job


class Histogram:
    """Bucket counts, sum and count of one series (the buckets are not cumulative here)."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        rows: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            rows.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return rows


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass
class RunTally:
    """Counters over runs.jsonl, kept current by reading only what was appended."""

    path: Path
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)
    durations: dict[str, Histogram] = field(default_factory=dict)
    lateness: Histogram = field(default_factory=lambda: Histogram(LATENESS_BUCKETS))
    last_run: dict[str, float] = field(default_factory=dict)
    last_success: dict[str, float] = field(default_factory=dict)
    tokens: Counter[tuple[str, str]] = field(default_factory=Counter)
    unparseable: int = 0
    generation: int = 0  # bumped whenever a record was counted or the tally reset
    _offset: int = 0
    _inode: int | None = None
    _partial: bytes = b""

    def catch_up(self) -> None:
        """Read the lines appended since the last call (the file's tail the first time)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            if self._inode is not None and (st.st_ino != self._inode or st.st_size < self._offset):
                self._reset()  # replaced or truncated: count it afresh
            if self._inode is None:
                self._inode = st.st_ino
                self._offset = max(0, st.st_size - SEED_WINDOW_BYTES)
                cut = self._offset > 0  # the window's first line is probably cut
            else:
                cut = False
            if st.st_size <= self._offset:
                return
            os.lseek(fd, self._offset, os.SEEK_SET)
            data = os.read(fd, min(st.st_size - self._offset, SEED_WINDOW_BYTES))
        except OSError:
            return
        finally:
            os.close(fd)
        self._offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        if cut and lines:
            lines = lines[1:]
        for line in lines:
            self._count(line)

    def _reset(self) -> None:
        generation = self.generation + 1  # never reused: cached renderings key on it
        self.__dict__.update(RunTally(self.path).__dict__)
        self.generation = generation

    def _count(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.unparseable += 1
            return
        if not isinstance(record, dict):
            self.unparseable += 1
            return
        self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        self.generation += 1
        job = record.get("job_id")
        job = job if isinstance(job, str) else AD_HOC_JOB
        status = str(record.get("status") or "unknown")
        self.runs[(job, status)] += 1
        ended = _number(record.get("ended_at"))
        if ended is not None:
            self.last_run[job] = max(ended, self.last_run.get(job, ended))
            if status == "ok":
                self.last_success[job] = max(ended, self.last_success.get(job, ended))
        tokens = record.get("tokens")
        if isinstance(tokens, dict):
            for direction in ("input", "output"):
                count = tokens.get(direction)
                if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                    self.tokens[(job, direction)] += count
        if not ran(record):
            return
        duration = _number(record.get("duration_ms"))
        if duration is not None:
            hist = self.durations.get(job)
            if hist is None:
                hist = self.durations[job] = Histogram(DURATION_BUCKETS)
            hist.observe(duration / 1000)
        late = lateness_of(record)
        if late is not None:
            self.lateness.observe(late)


def empty_view() -> LiveView:
    return LiveView({}, {}, {}, 0, 0, 0, time.time())


class MetricsState:
    """Everything a scrape shows: the run tally, the loop's event counters and its live view.

    The exposition is rendered in groups, and a group whose inputs did not
    change since the last scrape is served from its cached bytes: with a
    thousand jobs, rendering the per-job histograms is most of a scrape's cost
    and they change only when a run is recorded.
    """

    def __init__(self, runs_path: Path, live: Callable[[], LiveView] = empty_view) -> None:
        self.tally = RunTally(runs_path)
        self.live = live
        self.up = True
        self.counts = EventCounts()
        self._cache: dict[str, tuple[Any, bytes]] = {}

    def on_event(self, kind: str, fields: dict[str, Any]) -> None:
        """The loop's run-event subscriber."""
        job = fields.get("job_id")
        if not isinstance(job, str):
            return
        if kind == "job_missed":
            count = fields.get("count")
            self.counts.missed[job] += count if isinstance(count, int) and count > 0 else 1
        elif kind == "job_skipped":
            self.counts.skipped[job] += 1

    def on_audit(self, kind: str, details: dict[str, Any]) -> None:
        """Told of the notifier's audit events: each delivery outcome counts once."""
        result = DELIVERY_RESULTS.get(kind)
        target = details.get("target")
        if (
            result is not None
            and details.get("notify_kind") == "notify"
            and isinstance(target, str)
        ):
            self.counts.notify[(target, result)] += 1

    def render(self) -> bytes:
        """The text exposition format of every family, as /metrics serves it."""
        self.tally.catch_up()
        view = self.live()
        counts = self.counts
        tally_key = (self.tally.generation, self.tally.unparseable)
        schedule_key = (
            tuple(sorted(view.next_fires.items())),
            tuple(sorted(view.periods.items())),
        )
        events_key = (
            tuple(sorted(counts.missed.items())),
            tuple(sorted(counts.skipped.items())),
            tuple(sorted(counts.notify.items())),
            view.record_write_errors,
        )
        return b"".join(
            (
                exposition(list(live_families(view, up=self.up))),
                self._cached("tally", tally_key, lambda: tally_families(self.tally)),
                self._cached("schedule", schedule_key, lambda: schedule_families(view)),
                self._cached("events", events_key, lambda: event_families(view, counts)),
            )
        )

    def _cached(self, group: str, key: Any, build: Callable[[], Iterator[Metric]]) -> bytes:
        hit = self._cache.get(group)
        if hit is not None and hit[0] == key:
            return hit[1]
        data = exposition(list(build()))
        self._cache[group] = (key, data)
        return data


def render(state: MetricsState) -> bytes:
    """The text exposition format of every family, as /metrics serves it."""
    return state.render()


def write_textfile(path: Path, state: MetricsState) -> None:
    """Rewrite node_exporter's textfile atomically (it must never see half a file)."""
    atomic_write_bytes(path, render(state), mode=0o644)
