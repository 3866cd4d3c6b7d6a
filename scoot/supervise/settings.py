"""The loop's settings and what it reports when it ends."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from scoot.shared.value_class import value_class
from scoot.supervise.runner import Outcome, RunRequest


@value_class
class Settings:
    ticks: int = 0  # 0: forever
    poll_ms: int = 1000
    max_concurrent: int = 4
    job_timeout_sec: float = 600
    shutdown_grace_sec: float = 10
    kill_grace_sec: float = 5
    use_scheduler: bool = True  # False: run only submitted requests, then exit
    exit_when_idle: bool = True  # schedule run: stop when nothing can ever fire again
    reap_orphans: bool = False  # as child subreaper, kill descendants that escaped a run
    daemon: bool = False  # a stop is a daemon shutdown, and its records say so
    # Occurrences are claimed in the ledger this long before their instant, so the
    # claim's fsyncs are done when the instant comes and the fork happens right on it.
    claim_lead_sec: float = 0.05
    # Finished runs leave the ledger's in-flight table in batches, at most this late.
    release_delay_sec: float = 1.0


# The newest outcomes a Summary keeps: a daemon runs for a year, and what reports
# a run (`-e`, `schedule trigger`, `--ticks`) needs only the last ones and the counts.
KEPT_OUTCOMES = 100


@dataclass
class Summary:
    outcomes: deque[tuple[RunRequest, Outcome]] = field(
        default_factory=lambda: deque(maxlen=KEPT_OUTCOMES)
    )
    stop_reason: str = "loop_end"
    never_started: int = 0
    finished: int = 0  # runs that had a worker and ended
    not_ok: int = 0  # of those, the ones whose status is not ok

    def add(self, request: RunRequest, outcome: Outcome) -> None:
        self.outcomes.append((request, outcome))
        self.finished += 1
        if outcome.status != "ok":
            self.not_ok += 1

    @property
    def all_ok(self) -> bool:
        return self.never_started == 0 and self.not_ok == 0
