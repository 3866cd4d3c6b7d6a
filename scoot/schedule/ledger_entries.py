"""The ledger's entries: what each job last decided and its runs in flight, as stored.

ledger.json holds them whole; each line of the journal holds the entries one
transaction changed (scoot.schedule.ledger explains the two files).
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import Any

import orjson

from scoot.records.files import read_format_document
from scoot.schedule.jobs import MAX_AT_UNIX

FORMAT = "scoot.schedule.ledger.v1"


@dataclass
class InFlight:
    run_id: str
    instant: float | None
    started_at: float
    owner_pid: int
    owner_start: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "instant": self.instant,
            "started_at": self.started_at,
            "owner_pid": self.owner_pid,
            "owner_start": self.owner_start,
        }


class Flights(Mapping[str, InFlight]):
    """A job's runs in flight by run id, read-only: a change makes a new table.

    Most entries have none and share NO_FLIGHTS. Being immutable, a table is
    shared by a transaction's copy of an entry and the entry it copied, and
    being no dict, the ledger's encoder meets it and writes it as the list the
    format holds (see `encode_default`). It copies, deep-copies and pickles as
    a table, and NO_FLIGHTS as itself.
    """

    __slots__ = ("_by_run",)

    def __init__(self, by_run: dict[str, InFlight]) -> None:
        self._by_run = by_run

    def __getitem__(self, run_id: str) -> InFlight:
        return self._by_run[run_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_run)

    def __len__(self) -> int:
        return len(self._by_run)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._by_run

    # The dict's own views: walking all entries' flights (recovery, at every start)
    # costs what it does for a dict, not three times that.
    def values(self) -> ValuesView[InFlight]:
        return self._by_run.values()

    def items(self) -> ItemsView[str, InFlight]:
        return self._by_run.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Flights):
            return self._by_run == other._by_run
        return isinstance(other, Mapping) and self._by_run == dict(other.items())

    __hash__ = None  # type: ignore[assignment]  # equal to dicts, which are unhashable

    def __repr__(self) -> str:
        return repr(self._by_run)

    def __reduce__(self) -> tuple[Any, ...]:
        if not self._by_run:
            return (_no_flights, ())
        return (Flights, (self._by_run,))

    def adding(self, flight: InFlight) -> Flights:
        return Flights({**self._by_run, flight.run_id: flight})

    def dropping(self, run_id: str) -> Flights:
        rest = {key: flight for key, flight in self._by_run.items() if key != run_id}
        return Flights(rest) if rest else NO_FLIGHTS


NO_FLIGHTS = Flights({})  # never changed: nothing changes a Flights in place


def _no_flights() -> Flights:
    return NO_FLIGHTS


def encode_default(value: Any) -> Any:
    """What orjson cannot write itself: an in-flight table is written as its list of runs."""
    if isinstance(value, Flights):
        return list(value.values())
    raise TypeError(f"cannot encode {type(value).__name__}")


# Entries and flights go to orjson as they are: a dataclass is written field by field in
# the order declared, so ten thousand entries need no dict each to be encoded (the few
# MiB those took for a moment kept pools resident that the daemon then scattered its
# heap over). OPT_SORT_KEYS sorts the jobs by id, as the format has them.
ENCODE_OPTIONS = orjson.OPT_SORT_KEYS


@dataclass(slots=True)
class JobEntry:
    trigger: str
    last_instant: float | None = None
    last_fired: float | None = None
    last_run_id: str | None = None
    # By run id, changed through add_flight and drop_flight, which replace it: most
    # entries have none and share one empty read-only table, and with slots ten
    # thousand entries take 0.8 MiB where they took 1.9. Declared in the order the
    # format writes an entry's keys (see ENCODE_OPTIONS).
    in_flight: Flights = field(default_factory=_no_flights)
    # When this job (with this trigger) first appeared: instants after it are never silent.
    first_seen: float | None = None

    def __post_init__(self) -> None:
        # Any other mapping would reach the encoder as itself: a dict is written as an
        # object, not the list the format holds, and read back as no flights at all.
        if type(self.in_flight) is not Flights:
            given: Mapping[str, InFlight] = self.in_flight
            self.in_flight = Flights(dict(given)) if given else NO_FLIGHTS

    def add_flight(self, flight: InFlight) -> None:
        self.in_flight = self.in_flight.adding(flight)

    def drop_flight(self, run_id: str) -> None:
        if run_id in self.in_flight:
            self.in_flight = self.in_flight.dropping(run_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "last_instant": self.last_instant,
            "last_fired": self.last_fired,
            "last_run_id": self.last_run_id,
            "in_flight": [f.to_dict() for f in self.in_flight.values()],
            "first_seen": self.first_seen,
        }


def _entry_from(raw: Any) -> JobEntry | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("trigger"), str):
        return None
    entry = JobEntry(raw["trigger"])
    for key in ("last_instant", "last_fired", "first_seen"):
        value = raw.get(key)
        # A hand-edited or damaged time outside any real calendar counts as no history.
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= MAX_AT_UNIX
        ):
            setattr(entry, key, float(value))
    if isinstance(raw.get("last_run_id"), str):
        entry.last_run_id = raw["last_run_id"]
    flights = raw.get("in_flight")
    for item in flights if isinstance(flights, list) else []:
        if not isinstance(item, dict):
            continue  # a damaged entry is dropped; the rest of the ledger still counts
        try:
            flight = InFlight(
                str(item["run_id"]),
                None if item.get("instant") is None else float(item["instant"]),
                float(item["started_at"]),
                int(item["owner_pid"]),
                None if item.get("owner_start") is None else float(item["owner_start"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        entry.add_flight(flight)
    return entry


def parse_base(data: bytes) -> tuple[dict[str, JobEntry], str | None]:
    """The entries of a ledger.json and the token of the journal that continues it.

    Raises ValueError when the file is not a ledger.
    """
    value = read_format_document(data, FORMAT)
    jobs = value.get("jobs")
    if not isinstance(jobs, dict):
        raise ValueError("no jobs table")
    entries: dict[str, JobEntry] = {}
    apply_changes(entries, jobs)
    token = value.get("journal")
    return entries, token if isinstance(token, str) else None


def parse_ledger(data: bytes) -> dict[str, JobEntry]:
    """Raises ValueError when the file is not a ledger."""
    return parse_base(data)[0]


def apply_changes(entries: dict[str, JobEntry], jobs: dict[str, Any]) -> None:
    """Set each job's entry as given (None removes it); a damaged entry is dropped."""
    for job_id, raw in jobs.items():
        if raw is None:
            entries.pop(job_id, None)
            continue
        entry = _entry_from(raw)
        if entry is not None:
            entries[job_id] = entry


def encode_ledger(entries: dict[str, JobEntry], token: str | None = None) -> bytes:
    body: dict[str, Any] = {"format": FORMAT, "jobs": entries}
    if token is not None:
        body["journal"] = token
    return orjson.dumps(body, default=encode_default, option=ENCODE_OPTIONS) + b"\n"


def _copy(entry: JobEntry) -> JobEntry:
    return JobEntry(
        entry.trigger,
        entry.last_instant,
        entry.last_fired,
        entry.last_run_id,
        entry.in_flight,  # read-only: the copy may share it
        entry.first_seen,
    )


class Working(dict[str, JobEntry]):
    """A transaction's entries: each copied when first looked at, so only those are compared.

    At ten thousand jobs, copying and comparing every entry in every
    transaction would cost more than the few it changes.
    """

    def __init__(self, original: dict[str, JobEntry]) -> None:
        super().__init__(original)
        self._owned: set[str] = set()

    def _own(self, key: str) -> JobEntry:
        entry = dict.__getitem__(self, key)
        if key not in self._owned:
            entry = _copy(entry)
            dict.__setitem__(self, key, entry)
            self._owned.add(key)
        return entry

    def __getitem__(self, key: str) -> JobEntry:
        return self._own(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self._own(key) if key in self else default

    def __setitem__(self, key: str, value: JobEntry) -> None:
        self._owned.add(key)
        dict.__setitem__(self, key, value)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def values(self) -> list[JobEntry]:  # type: ignore[override]
        return [self._own(key) for key in list(self)]

    def items(self) -> list[tuple[str, JobEntry]]:  # type: ignore[override]
        return [(key, self._own(key)) for key in list(self)]

    def changes(self, original: dict[str, JobEntry]) -> dict[str, JobEntry | None]:
        """The entries that differ from `original`, None for the removed ones."""
        changed: dict[str, JobEntry | None] = {}
        for key in self._owned:
            if key in self and original.get(key) != dict.__getitem__(self, key):
                changed[key] = dict.__getitem__(self, key)
        for key in original:
            if key not in self:
                changed[key] = None
        return changed
