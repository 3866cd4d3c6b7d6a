"""The retry plan of a failed scheduled run (pure)."""

from __future__ import annotations

from scoot.shared.value_class import value_class

# Endings that a second try may fix. denied, budget and invalid_result would
# only end the same way again (or spend more), so they are never retried.
RETRIED_STATUSES = frozenset({"error", "timeout", "crashed"})


def backoff_sec(attempt: int, base_sec: float) -> float:
    """The wait before attempt `attempt + 1`: the base, doubled for each attempt after the first."""
    return base_sec * 2.0 ** max(0, attempt - 1)


@value_class
class Retry:
    attempt: int  # the attempt this starts (2 is the first retry)
    start_at: float
    delay_sec: float


def plan_retry(
    *,
    status: str,
    attempt: int,
    retries: int,
    backoff_base_sec: float,
    ended_at: float,
    next_instant: float | None,
) -> Retry | None:
    """The next attempt of a run that ended `status`, or None.

    None when the status is not retried, the retries are used up, or the
    attempt would start at or after the job's next instant (that instant
    runs instead).
    """
    if status not in RETRIED_STATUSES or attempt > retries:
        return None
    delay = backoff_sec(attempt, backoff_base_sec)
    start_at = ended_at + delay
    if next_instant is not None and start_at >= next_instant:
        return None
    return Retry(attempt + 1, start_at, delay)
