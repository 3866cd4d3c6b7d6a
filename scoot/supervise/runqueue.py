"""The queue of requests waiting to start: when each may start and which goes next (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from scoot.supervise.runner import RunRequest


def start_at(request: RunRequest) -> float:
    """A claimed occurrence starts at its instant plus its jitter; anything else at once."""
    if request.not_before is not None:
        return request.not_before  # a retry, after its backoff
    if request.origin == "schedule" and request.instant is not None:
        return request.instant + request.jitter_ms / 1000
    return 0.0


def due(queue: Iterable[RunRequest], now: float) -> list[RunRequest]:
    """In queue order, those whose start has come."""
    return [request for request in queue if start_at(request) <= now]


def first_ready(
    due_requests: Iterable[RunRequest], backend_free: Callable[[RunRequest], bool]
) -> RunRequest | None:
    """The first due request whose backend has a free slot.

    A jittered run waiting for its delay, or one whose backend is full, must
    not hold back the runs behind it.
    """
    return next((request for request in due_requests if backend_free(request)), None)


def waiting_by_backend(
    queue: Iterable[RunRequest], now: float, backend_free: Callable[[RunRequest], bool]
) -> dict[str, int]:
    """Runs due now that wait for a free slot of their backend (max_concurrent)."""
    waiting: dict[str, int] = {}
    for request in due(queue, now):
        if not backend_free(request):
            waiting[request.backend] = waiting.get(request.backend, 0) + 1
    return waiting


def next_start(
    queue: Iterable[RunRequest], backend_free: Callable[[RunRequest], bool]
) -> float | None:
    """The earliest start (wall clock) among requests whose backend has room, if any."""
    starts = [start_at(request) for request in queue if backend_free(request)]
    return min(starts) if starts else None
