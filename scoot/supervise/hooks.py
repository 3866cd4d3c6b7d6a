"""What the loop tells its host (the daemon, the progress lines) and what it serves for others."""

from __future__ import annotations

import selectors
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from scoot.supervise.supervisor import Supervisor


class Hooks:
    """Lifecycle callbacks; the daemon records state and notifies systemd through these."""

    def ready(self, supervisor: Supervisor) -> None: ...

    def heartbeat(self, supervisor: Supervisor) -> None: ...

    def reloading(self, supervisor: Supervisor) -> None: ...

    def reloaded(self, supervisor: Supervisor) -> None: ...

    def stopping(self, supervisor: Supervisor, remaining_sec: float) -> None: ...

    def backend_waits(self, supervisor: Supervisor, waiting: dict[str, int]) -> None:
        """The runs waiting for a backend's max_concurrent changed (backend: count)."""

    def job_paused(self, supervisor: Supervisor, job_id: str, reason: str) -> None:
        """A job was paused automatically (pause_after_failures); audited before this call."""

    def stopping_now(self, supervisor: Supervisor) -> None:
        """A second stop signal: the grace is cut short."""

    def heartbeat_interval(self) -> float | None:
        return None


class Endpoint(Protocol):
    """Something the loop serves from its own selector (the metrics listener).

    It registers its sockets with callables as data; each is called with the
    event mask and must never block. `next_deadline` (monotonic) bounds the
    loop's sleep so `expire` can close what overstayed.
    """

    def attach(self, selector: selectors.BaseSelector) -> None: ...

    def next_deadline(self) -> float | None: ...

    def expire(self) -> None: ...

    def close(self) -> None: ...


class Heartbeat:
    """When the hooks' heartbeat (systemd's watchdog, daemon.json) is next due."""

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        self.next_mono = 0.0

    def due_mono(self) -> float | None:
        return self.next_mono if self.hooks.heartbeat_interval() else None

    def beat(self, supervisor: Supervisor, now_mono: float) -> None:
        interval = self.hooks.heartbeat_interval()
        if interval and now_mono >= self.next_mono:
            self.next_mono = now_mono + interval
            self.hooks.heartbeat(supervisor)
