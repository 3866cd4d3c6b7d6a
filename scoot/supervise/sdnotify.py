"""sd_notify without a dependency: one datagram per state change to $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
from typing import Any


class Notifier:
    """Sends `KEY=VALUE` lines to systemd; does nothing when not run by systemd."""

    def __init__(self, address: str | None, watchdog_usec: int | None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self.failures = 0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if raw.isdigit() and int(raw) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(raw)
        return cls(address, watchdog)

    def watchdog_interval(self) -> float | None:
        """Ping at half the watchdog period, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def send(self, **fields: Any) -> bool:
        if not self.address:
            return False
        if "WATCHDOG" in fields and not self.watchdog_usec:
            fields.pop("WATCHDOG")
            if not fields:
                return False
        # A newline inside a value would start a new assignment (STATUS="x\nREADY=1").
        message = "\n".join(
            f"{key}={' '.join(str(value).splitlines())}" for key, value in fields.items()
        ).encode()
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message, address)
            return True
        except OSError:
            self.failures += 1
            return False
