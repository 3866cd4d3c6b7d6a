"""The queue of requests waiting to start: when each may start and which goes next."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from scoot.records.recorder import Recorder
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


class RunQueue:
    """Requests waiting to start, in arrival order; each waiting for its backend is audited once."""

    def __init__(
        self,
        recorder: Recorder,
        backend_free: Callable[[RunRequest], bool],
        cap_of: Callable[[str], int],
    ) -> None:
        self.requests: deque[RunRequest] = deque()
        self.recorder = recorder
        self.backend_free = backend_free
        self.cap_of = cap_of  # a backend's max_concurrent
        self._noted: set[str] = set()  # run ids whose wait for a backend was audited
        self._last_waiting: dict[str, int] = {}  # as waiting_changed last said

    def has_job(self, job_id: str) -> bool:
        return any(request.job_id == job_id for request in self.requests)

    def _free_now(self) -> Callable[[RunRequest], bool]:
        """backend_free, asked once per backend: nothing launches while the queue is read."""
        known: dict[str, bool] = {}

        def free(request: RunRequest) -> bool:
            if request.backend not in known:
                known[request.backend] = self.backend_free(request)
            return known[request.backend]

        return free

    def take_ready(self, now: float, slot_free: Callable[[RunRequest], bool]) -> RunRequest | None:
        """The next request to launch now, out of the queue; None when none may start yet.

        `slot_free` says whether a request would find a run slot (held runs keep theirs).
        """
        free = self._free_now()
        due_now = due(self.requests, now)
        self._note_waiting(due_now, free)
        ready = first_ready(due_now, lambda request: slot_free(request) and free(request))
        if ready is not None:
            self.requests.remove(ready)
            self._noted.discard(ready.run_id)
        return ready

    def _note_waiting(self, due_now: list[RunRequest], free: Callable[[RunRequest], bool]) -> None:
        for request in due_now:
            if request.run_id in self._noted or free(request):
                continue
            self._noted.add(request.run_id)
            self.recorder.run_event(
                request,
                "job_queued",
                f"{request.job_id or request.session_id} waits for backend {request.backend} "
                f"(max_concurrent={self.cap_of(request.backend)})",
                backend=request.backend,
                instant=request.instant,
            )

    def waiting_by_backend(self, now: float) -> dict[str, int]:
        return waiting_by_backend(self.requests, now, self._free_now())

    def next_start(self, slot_free: Callable[[RunRequest], bool]) -> float | None:
        free = self._free_now()
        return next_start(self.requests, lambda request: slot_free(request) and free(request))

    def waiting_changed(self, now: float) -> dict[str, int] | None:
        """The runs waiting per backend, when that changed since the last call; else None."""
        waiting = self.waiting_by_backend(now) if self.requests else {}
        if waiting == self._last_waiting:
            return None
        self._last_waiting = waiting
        return waiting
