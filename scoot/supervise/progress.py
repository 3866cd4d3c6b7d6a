"""What long-running commands say while they start and wait (pure text, plus one hook)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from scoot.schedule.job_rows import row_for_job
from scoot.schedule.jobs import InvalidJob, Job
from scoot.schedule.ledger import Ledger
from scoot.shared.terminal import utc
from scoot.supervise.supervisor import Hooks, Supervisor

# How often a waiting `schedule run` says what it waits for; rare enough for a log file.
WAITING_LINE_SEC = 60.0
RELOAD_HINT = "fix the config, then reload (SIGHUP, or `systemctl reload` under systemd)"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def in_words(seconds: float) -> str:
    """A wait as people say it: "now", "in 42 s", "in 5 min 3 s", "in 2 h 10 min"."""
    whole = int(max(0.0, seconds) + 0.5)
    if whole < 1:
        return "now"
    if whole < 60:
        return f"in {whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"in {minutes} min {secs} s" if secs else f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
    return f"in {hours // 24} days"


def next_fire(jobs: Sequence[Job], ledger: Ledger, now: float) -> tuple[float, str] | None:
    """(instant, job id) of the earliest fire to come, by the rules `schedule list` shows."""
    try:
        entries = ledger.peek()
    except OSError:
        entries = {}
    fires = []
    for job in jobs:
        row = row_for_job(job, enabled=True, now=now, entry=entries.get(job.id), last_run=None)
        if row.next_fire_unix is not None:
            fires.append((max(row.next_fire_unix, now), job.id))
    return min(fires) if fires else None


def next_fire_text(next_fire: tuple[float, str] | None, now: float) -> str:
    """ "next fire: job J at <UTC> (in ...)", or that nothing can fire."""
    if next_fire is None:
        return "next fire: none (no job can fire again)"
    due, job_id = next_fire
    return f"next fire: job {job_id} at {utc(due)} ({in_words(due - now)})"


def invalid_text(invalid: Sequence[InvalidJob]) -> str:
    """ "2 invalid jobs: a, #3" naming each by id, else by its place in the file."""
    names = ", ".join(bad.id or f"#{bad.index}" for bad in invalid)
    return f"{plural(len(invalid), 'invalid job')}: {names}"


def no_runnable_text(invalid: Sequence[InvalidJob]) -> str:
    why = invalid_text(invalid) if invalid else "none configured"
    return f"no runnable jobs ({why}); waiting: {RELOAD_HINT}"


class WaitingLines(Hooks):
    """`schedule run`: says now and then what it waits for while nothing runs."""

    def __init__(self, say: Callable[[str], None], clock: Callable[[], float] = time.time) -> None:
        self.say = say
        self.clock = clock
        self._started = False

    def heartbeat_interval(self) -> float | None:
        return WAITING_LINE_SEC

    def heartbeat(self, supervisor: Supervisor) -> None:
        if not self._started:
            self._started = True  # the start line said it already
            return
        if supervisor.running_count or supervisor.scheduler is None:
            return
        scheduler = supervisor.scheduler
        if not scheduler.jobs:
            self.say(f"[scoot] waiting: no runnable jobs; {RELOAD_HINT}")
            return
        now = self.clock()
        upcoming = next_fire(tuple(scheduler.jobs.values()), scheduler.ledger, now)
        self.say(f"[scoot] waiting: {next_fire_text(upcoming, now)}")


class InterruptNotice(Hooks):
    """`schedule trigger` and `-e`: the first Ctrl-C says at once what happens next."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def stopping(self, supervisor: Supervisor, remaining_sec: float) -> None:
        running = supervisor.running_count
        if not running:
            self.say("scoot: interrupted")
        elif remaining_sec > 0:
            self.say(
                f"scoot: interrupted: waiting up to {remaining_sec:g} s for "
                f"{plural(running, 'run')}; Ctrl-C again to stop {'it' if running == 1 else 'them'} now"
            )
        else:
            self.say(f"scoot: interrupted: stopping {plural(running, 'run')} now")

    def stopping_now(self, supervisor: Supervisor) -> None:
        if supervisor.running_count:
            self.say(f"scoot: stopping {plural(supervisor.running_count, 'run')} now")
