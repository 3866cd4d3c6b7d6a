"""RSS of a real Supervisor over many runs: what the memory test and bench/memory_soak.py share.

Runs are fed a few at a time through the supervisor's heartbeat hook, so
the queue stays short and any growth comes from what the supervisor keeps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from scoot.instance.open import open_instance
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.supervise.supervisor import Hooks, Settings, Supervisor
from tests.helpers import write_config
from worker.main import FrameWriter, read_spec

QUEUE_DEPTH = 64


def answering_body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A worker that answers at once, with an answer the size of a real one."""
    emit = FrameWriter(frame_fd)
    spec = read_spec(spec_fd)
    emit({"type": "result", "status": "ok", "answer": f"{spec['goal']} " * 100, "error": None})
    return 0


@dataclass
class Feeder(Hooks):
    total: int
    warmup: int
    submitted: int = 0
    samples: list[tuple[int, int]] = field(default_factory=list)  # (runs finished, RSS bytes)

    def heartbeat_interval(self) -> float | None:
        return 0.02

    def heartbeat(self, supervisor: Supervisor) -> None:
        while len(supervisor.queue) < QUEUE_DEPTH and self.submitted < self.total:
            self.submitted += 1
            supervisor.submit(
                supervisor.requests.for_goal(
                    f"goal {self.submitted}",
                    mode="readonly",
                    origin="trigger",
                    session_id=f"soak-{self.submitted % 50}",
                    now=time.time(),
                    timeout_sec=30,
                    job_id=f"job-{self.submitted % 50}",
                )
            )
        finished = supervisor.summary.finished
        if not self.samples or finished - self.samples[-1][0] >= max(1, self.total // 20):
            self.samples.append((finished, psutil.Process().memory_info().rss))


@dataclass
class Figures:
    runs: int
    rss_after_warmup: int
    rss_at_end: int
    samples: list[tuple[int, int]]

    @property
    def growth(self) -> int:
        return self.rss_at_end - self.rss_after_warmup


def rss_over_runs(home: Path, total: int, warmup: int) -> Figures:
    write_config(home)
    instance = open_instance(str(home))
    redactor = Redactor()
    recorder = Recorder(
        instance.home,
        AuditLog(instance.home.audit_log, redactor),
        SessionLog(instance.home.sessions, redactor),
        warn=lambda _text: None,
    )
    feeder = Feeder(total, warmup)
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=None,
        recorder=recorder,
        runlog=RunLog(lambda _t: None, lambda _t: None),
        settings=Settings(use_scheduler=False, max_concurrent=4),
        hooks=feeder,
        worker_body=answering_body,
    )
    try:
        summary = supervisor.run()
    finally:
        recorder.audit.close()
    at_end = psutil.Process().memory_info().rss
    warm = [rss for finished, rss in feeder.samples if finished >= warmup]
    return Figures(summary.finished, warm[0] if warm else at_end, at_end, feeder.samples)
