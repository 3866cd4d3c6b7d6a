"""Deadlines and escalation: a run past its time limit or the stop grace gets SIGTERM,
then SIGKILL once kill_grace_sec has passed."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from scoot.supervise.runner import ActiveRun


def timeout_due(run: ActiveRun, now_mono: float) -> bool:
    return (
        run.deadline_mono is not None
        and now_mono >= run.deadline_mono
        and not run.timed_out
        and run.term_sent_mono is None
    )


def kill_due(run: ActiveRun, now_mono: float, kill_grace_sec: float) -> bool:
    return (
        run.term_sent_mono is not None
        and not run.kill_sent
        and now_mono >= run.term_sent_mono + kill_grace_sec
    )


def enforce(
    runs: Iterable[ActiveRun],
    now_mono: float,
    *,
    stop_cause: str | None,
    kill_grace_sec: float,
    on_timeout: Callable[[ActiveRun], None],
) -> None:
    """`stop_cause`: the stop grace is over, and this is who asked for the stop."""
    for run in runs:
        if run.exited:
            continue
        if timeout_due(run, now_mono):
            run.timed_out = True
            run.terminate(now_mono)
            on_timeout(run)
        if stop_cause is not None and run.term_sent_mono is None:
            run.stopped_by_shutdown = True
            run.stop_cause = stop_cause
            run.terminate(now_mono)
        if kill_due(run, now_mono, kill_grace_sec):
            run.kill()


def next_deadline(runs: Iterable[ActiveRun], kill_grace_sec: float) -> float | None:
    """The earliest monotonic instant a run needs the loop: a time limit, a kill, an exit."""
    instants: list[float] = []
    for run in runs:
        if run.deadline_mono is not None and not run.timed_out:
            instants.append(run.deadline_mono)
        if run.term_sent_mono is not None and not run.kill_sent:
            instants.append(run.term_sent_mono + kill_grace_sec)
        if run.exited:
            instants.append(0.0)  # reaped, not yet finished: at once
    return min(instants) if instants else None


def stop_cause(reason: str | None, *, daemon: bool) -> str:
    """Who stopped a run, as its record says it: "Ctrl-C (SIGINT)", "daemon shutdown (SIGTERM)"."""
    signame = reason or "a stop request"
    if daemon:
        return f"daemon shutdown ({signame})"
    return "Ctrl-C (SIGINT)" if signame == "SIGINT" else signame


class Stop:
    """A graceful stop: the first stop signal begins the grace, a second one ends it at once."""

    def __init__(self) -> None:
        self.requested = False
        self.deadline_mono: float | None = None  # when the grace ends

    def begin(self, grace_sec: float, now_mono: float) -> bool:
        """True for the first request; a later one only cuts the grace short."""
        if self.requested:
            self.deadline_mono = now_mono
            return False
        self.requested = True
        self.deadline_mono = now_mono + grace_sec
        return True

    def grace_over(self, now_mono: float) -> bool:
        return self.deadline_mono is not None and now_mono >= self.deadline_mono
