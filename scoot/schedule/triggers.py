"""Job triggers (every_sec, at_unix, cron): their definition, next instants and words.

Pure: every function takes the time it needs as an argument. Time is float Unix
seconds (UTC). What fires now, given the ledger, is decided in scoot.schedule.planner.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, cast

from scoot.schedule.civil import civil_from_days
from scoot.schedule.cron import CronExpr, describe_cron, parse_cron
from scoot.schedule.zoned import UTC_NAMES, next_after_in, zone_or_none
from scoot.shared.value_class import value_class

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "CatchUp",
    "Trigger",
    "TriggerError",
    "default_grace",
    "describe",
    "epoch_grid_after",
    "format_utc",
    "is_exhausted",
    "next_fire",
]

CatchUp = Literal["skip", "once"]
Align = Literal["start", "epoch"]
# A cron instant's default grace: the rest of its minute.
CRON_MINUTE_SEC = 60.0


class TriggerError(ValueError):
    """A trigger or planner argument that cannot be used; the message is one line."""


@value_class(slots=True)
class Trigger:
    """When a job fires: exactly one of every_sec, at_unix or a cron expression.

    `timezone` (cron only) is the IANA zone the cron fields are read in; None is
    UTC. `align` (every_sec only): "start" anchors the grid on the first fire,
    "epoch" puts the instants on multiples of the interval since the Unix epoch.
    """

    kind: Literal["every", "at", "cron"]
    every_sec: int | None = None
    at_unix: float | None = None
    cron: CronExpr | None = None
    timezone: str | None = None
    align: Align = "start"

    def __post_init__(self) -> None:
        if (
            self.kind == "at"
            and type(self.at_unix) is float
            and math.isfinite(self.at_unix)
            and self.every_sec is None
            and self.cron is None
            and self.timezone is None
            and self.align == "start"
        ):
            return  # the common one-shot, already as stored: nothing below would change it
        given = {
            "every": self.every_sec is not None,
            "at": self.at_unix is not None,
            "cron": self.cron is not None,
        }
        if self.kind not in given:
            raise TriggerError(f'trigger kind must be "every", "at" or "cron", got {self.kind!r}')
        if not given[self.kind] or sum(given.values()) != 1:
            own_value = {"every": "every_sec", "at": "at_unix", "cron": "cron"}[self.kind]
            raise TriggerError(
                f"trigger kind {self.kind!r} needs {own_value} and no other trigger value"
            )
        if self.kind == "every":
            every_sec = self.every_sec
            if isinstance(every_sec, bool) or not isinstance(every_sec, int) or every_sec < 1:
                raise TriggerError(f"every_sec must be an integer >= 1, got {every_sec!r}")
        elif self.kind == "at":
            at_unix = self.at_unix
            if isinstance(at_unix, bool) or not isinstance(at_unix, int | float):
                raise TriggerError(f"at_unix must be a number of Unix seconds, got {at_unix!r}")
            if not math.isfinite(at_unix):
                raise TriggerError(f"at_unix must be a finite number, got {at_unix!r}")
            object.__setattr__(self, "at_unix", float(at_unix))
        if self.timezone is not None:
            if self.kind != "cron":
                raise TriggerError("timezone applies to cron triggers only")
            zone_or_none(self.timezone)  # raises ZoneError (a ValueError) when unknown
            if self.timezone in UTC_NAMES:
                object.__setattr__(self, "timezone", None)
        if self.align not in ("start", "epoch"):
            raise TriggerError(f'align must be "start" or "epoch", got {self.align!r}')
        if self.align == "epoch" and self.kind != "every":
            raise TriggerError("align applies to every_sec triggers only")

    @classmethod
    def every(cls, every_sec: int, align: Align = "start") -> Trigger:
        """Fire at start, then at a fixed rate of `every_sec` seconds (an integer >= 1).

        With align "epoch", fire at the multiples of `every_sec` since the epoch.
        """
        return cls(kind="every", every_sec=every_sec, align=align)

    @classmethod
    def at(cls, at_unix: float) -> Trigger:
        """Fire once, at the first look at or after Unix time `at_unix`."""
        return cls(kind="at", at_unix=at_unix)

    @classmethod
    def from_cron(cls, expr: str, timezone: str | None = None) -> Trigger:
        """Fire on a 5-field cron expression read in `timezone` (None: UTC).

        Raises CronError or ZoneError (both ValueError) if invalid.
        """
        return cls(kind="cron", cron=parse_cron(expr), timezone=timezone)

    @property
    def key(self) -> str:
        """A stable string naming this trigger, e.g. `every:300` or `cron:*/5 * * * *`.

        The ledger keys its entries by job id and this key, so a job whose trigger
        changes starts afresh.
        """
        if self.kind == "every":
            grid = "@epoch" if self.align == "epoch" else ""
            return f"every:{self._every_sec}{grid}"
        if self.kind == "at":
            return f"at:{_format_number(self._at_unix)}"
        zone = f" tz={self.timezone}" if self.timezone else ""
        return f"cron:{self._cron.source}{zone}"

    @property
    def zone(self) -> ZoneInfo | None:
        """The loaded zone of a cron trigger; None for UTC."""
        return zone_or_none(self.timezone)

    # __post_init__ guarantees the value of the trigger's kind is set.
    @property
    def _every_sec(self) -> int:
        return cast(int, self.every_sec)

    @property
    def _at_unix(self) -> float:
        return cast(float, self.at_unix)

    @property
    def _cron(self) -> CronExpr:
        return cast(CronExpr, self.cron)


def next_fire(trigger: Trigger, after: float) -> float | None:
    """The next scheduled instant strictly after `after`, with no history (None: never).

    An every-trigger without history fires `every_sec` after `after`; with a
    ledger, use `plan`, which keeps the fixed-rate grid.
    """
    if trigger.kind == "every":
        if trigger.align == "epoch":
            return epoch_grid_after(trigger._every_sec, after)
        return after + trigger._every_sec
    if trigger.kind == "at":
        return trigger._at_unix if trigger._at_unix > after else None
    return next_after_in(trigger._cron, trigger.zone, after)


def epoch_grid_after(interval: int, after: float) -> float:
    """The first multiple of `interval` seconds since the epoch strictly after `after`."""
    return float((math.floor(after) // interval + 1) * interval)


def default_grace(trigger: Trigger) -> float | None:
    """How late an instant may still fire when the job sets no max_late_sec (None: no limit).

    cron: the rest of its minute; every: one interval; at: unlimited. The first two
    bounds are exclusive (a cron instant at 12:00 fires until just before 12:01).
    """
    if trigger.kind == "cron":
        return CRON_MINUTE_SEC
    if trigger.kind == "every":
        return float(trigger._every_sec)
    return None


def is_exhausted(trigger: Trigger, last_instant: float | None) -> bool:
    """Whether the trigger will never fire again: an at-trigger whose instant is decided."""
    return trigger.kind == "at" and last_instant is not None and last_instant >= trigger._at_unix


def describe(trigger: Trigger) -> str:
    """The trigger in words: `every 5m`, `once at 2026-01-01 00:00:00 UTC`, `every minute`."""
    if trigger.kind == "every":
        grid = " (on the epoch grid)" if trigger.align == "epoch" else ""
        return f"every {_format_duration(trigger._every_sec)}{grid}"
    if trigger.kind == "at":
        return f"once at {format_utc(trigger._at_unix)}"
    text = describe_cron(trigger._cron)
    if trigger.timezone:
        text = text.replace(" UTC", f" {trigger.timezone}").replace(
            "(UTC)", f"({trigger.timezone})"
        )
        if trigger.timezone not in text:
            text += f" ({trigger.timezone})"
    return text


def format_utc(t: float) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC`, with milliseconds only when t has a fraction of a second."""
    whole = math.floor(t)
    millis = round((t - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    day, second_of_day = divmod(whole, 86_400)
    year, month, mday = civil_from_days(day)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    fraction = f".{millis:03d}" if millis else ""
    return f"{year:04d}-{month:02d}-{mday:02d} {hour:02d}:{minute:02d}:{second:02d}{fraction} UTC"


def _format_duration(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
