"""Deterministic jitter: how long after its scheduled instant an occurrence starts (pure).

The delay is a hash of (job id, instant), so every process (the daemon, a
`--ticks 1` timer run, the preview) computes the same value without sharing
any state, and a restart does not move it. It lies in [0, jitter_sec] and
always stays below the gap to the job's next instant, so one occurrence
never starts after the next one is due. The ledger still claims the
scheduled instant itself; jitter only delays the start.
"""

from __future__ import annotations

import math

from scoot.schedule.triggers import Trigger, next_fire

__all__ = ["jitter_ms", "jitter_ms_for"]


def jitter_ms(job_id: str, instant: float, jitter_sec: int, gap_sec: float | None) -> int:
    """The delay in milliseconds for one occurrence; 0 when jitter is off.

    `gap_sec` is the time from `instant` to the job's next instant (None: no
    next instant); the delay is kept strictly below it.
    """
    if jitter_sec <= 0:
        return 0
    bound = jitter_sec * 1000
    if gap_sec is not None:
        bound = min(bound, max(math.ceil(gap_sec * 1000) - 1, 0))
    import hashlib  # here: OpenSSL's libcrypto is loaded only by a config that uses jitter

    # Milliseconds of the instant: the float's repr would differ between 1.0 and 1.
    key = f"{job_id}\0{round(instant * 1000)}".encode()
    value = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    return value % (bound + 1)


def jitter_ms_for(job_id: str, trigger: Trigger, instant: float, jitter_sec: int) -> int:
    """jitter_ms with the gap taken from the trigger's next instant after `instant`."""
    if jitter_sec <= 0:
        return 0
    following = next_fire(trigger, instant)
    return jitter_ms(
        job_id, instant, jitter_sec, None if following is None else following - instant
    )
