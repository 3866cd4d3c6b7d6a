"""The ledger's journal: changes appended, compacted atomically, read back by other processes.

Exactly-once firing over the journal is what the fault suite checks end to end;
these tests pin the file mechanics, including a real process SIGKILLed after
each fsync of each kind of ledger write.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from scoot.records.killpoints import KILL_AFTER_FSYNC_ENV
from scoot.schedule.ledger import Ledger
from scoot.schedule.ledger_entries import (
    FORMAT,
    NO_FLIGHTS,
    Flights,
    InFlight,
    JobEntry,
    encode_ledger,
)
from scoot.schedule.ledger_journal import change_line


def ledger_in(directory: Path, **kwargs: int) -> Ledger:
    return Ledger(directory / "ledger.json", directory / "ledger.lock", **kwargs)


def fill(ledger: Ledger, count: int) -> None:
    with ledger.transaction() as entries:
        for n in range(count):
            entries[f"job-{n}"] = JobEntry("every:60", last_instant=1000.0 + n, first_seen=900.0)


def stat_of(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def test_a_change_is_one_journal_line_and_ledger_json_is_not_rewritten(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 2000)
    base = stat_of(ledger.path)
    assert not ledger.journal_path.exists()  # the first commit writes ledger.json whole
    for n in range(5):
        with ledger.transaction() as entries:
            entry = entries["job-7"]
            entry.last_instant = 5000.0 + n
            entry.add_flight(InFlight(f"r{n}", 5000.0 + n, 5000.0, 42, None))
    assert stat_of(ledger.path) == base
    lines = ledger.journal_path.read_bytes().splitlines()
    assert len(lines) == 1 + 5  # the header, then one line per transaction
    assert all(len(line) < 2000 for line in lines)  # the changed entry, not the ledger
    # Another reader (another process, in effect) sees every change.
    other = ledger_in(tmp_path).peek()
    assert other == ledger.peek()
    assert other["job-7"].last_instant == 5004.0 and set(other["job-7"].in_flight) == {
        f"r{n}" for n in range(5)
    }
    assert other["job-8"].last_instant == 1008.0


def test_a_transaction_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 10)
    with ledger.transaction() as entries:
        entries["job-1"].last_instant = 1.0
    before = (stat_of(ledger.path), stat_of(ledger.journal_path))
    with ledger.transaction() as entries:
        entry = entries["job-1"]  # looked at, not changed
        entry.last_instant = entry.last_instant
        assert len(list(entries.values())) == 10
    assert (stat_of(ledger.path), stat_of(ledger.journal_path)) == before


def test_flights_are_replaced_not_changed_so_a_failed_transaction_leaves_none(
    tmp_path: Path,
) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 3)
    assert all(entry.in_flight is NO_FLIGHTS for entry in ledger.peek().values())
    flight = InFlight("r1", 1060.0, 1060.0, 42, None)
    try:
        with ledger.transaction() as entries:
            entries["job-1"].add_flight(flight)
            raise RuntimeError("the transaction fails before its commit")
    except RuntimeError:
        pass
    # Neither the entries this ledger holds (the copy shared their table) nor the file.
    assert ledger.peek()["job-1"].in_flight is NO_FLIGHTS
    assert ledger_in(tmp_path).peek()["job-1"].in_flight == {}
    with ledger.transaction() as entries:
        entries["job-1"].add_flight(flight)
        entries["job-1"].add_flight(InFlight("r2", 1120.0, 1120.0, 42, None))
    assert set(ledger_in(tmp_path).peek()["job-1"].in_flight) == {"r1", "r2"}
    with ledger.transaction() as entries:
        entries["job-1"].drop_flight("r1")
        entries["job-1"].drop_flight("never-there")
    assert set(ledger_in(tmp_path).peek()["job-1"].in_flight) == {"r2"}
    with ledger.transaction() as entries:
        entries["job-1"].drop_flight("r2")
    # The last one gone, the entry shares the one empty table again.
    entry = ledger_in(tmp_path).peek()["job-1"]
    assert entry.in_flight is NO_FLIGHTS and entry.in_flight == {} and "r2" not in entry.in_flight
    # It copies and pickles as itself, and refuses a change in place.
    assert copy.deepcopy(entry).in_flight is NO_FLIGHTS
    assert pickle.loads(pickle.dumps(entry)).in_flight is NO_FLIGHTS
    assert dataclasses.asdict(entry)["in_flight"] is NO_FLIGHTS
    with pytest.raises(TypeError):
        entry.in_flight["r3"] = flight  # type: ignore[index]


def test_a_removed_entry_is_removed_for_every_reader(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 3)
    with ledger.transaction() as entries:
        entries.pop("job-1")
    assert sorted(ledger_in(tmp_path).peek()) == ["job-0", "job-2"]


def test_the_journal_is_folded_in_once_it_outgrows_ledger_json(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path, compact_min_bytes=0)
    fill(ledger, 3)
    compactions = 0
    for n in range(40):
        before = stat_of(ledger.path)
        with ledger.transaction() as entries:
            entries[f"job-{n % 3}"].last_instant = 2000.0 + n
        if stat_of(ledger.path) != before:
            compactions += 1
            # The new ledger.json holds everything; its journal starts afresh.
            assert not ledger.journal_path.exists()
        # Never larger than ledger.json plus one transaction.
        if ledger.journal_path.exists():
            assert ledger.journal_path.stat().st_size <= ledger.path.stat().st_size + 400
        assert ledger_in(tmp_path).peek() == ledger.peek()
    assert compactions >= 5
    assert ledger_in(tmp_path).peek()["job-0"].last_instant == 2039.0


def test_a_line_cut_by_a_crash_is_not_committed_and_is_cut_off(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 3)
    with ledger.transaction() as entries:
        entries["job-0"].last_instant = 7.0
    whole = ledger.journal_path.read_bytes()
    with open(ledger.journal_path, "ab") as handle:
        handle.write(b'{"jobs":{"job-1":{"trigger":"every:60","last_inst')
    reader = ledger_in(tmp_path)
    assert reader.peek()["job-1"].last_instant == 1001.0
    with reader.transaction() as entries:
        entries["job-2"].last_instant = 9.0
    data = ledger.journal_path.read_bytes()
    assert data.startswith(whole) and b"last_inst'" not in data and data.endswith(b"\n")
    seen = ledger_in(tmp_path).peek()
    assert (seen["job-0"].last_instant, seen["job-1"].last_instant) == (7.0, 1001.0)
    assert seen["job-2"].last_instant == 9.0


def test_a_journal_of_an_earlier_ledger_json_is_ignored(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 2)
    with ledger.transaction() as entries:
        entries["job-0"].last_instant = 3.0
    old_journal = ledger.journal_path.read_bytes()
    compacting = ledger_in(tmp_path, compact_min_bytes=0)
    with compacting.transaction() as entries:
        entries["job-0"].last_instant = 4.0
        entries["job-1"].last_instant = 4.0 + 10**6  # the line outgrows ledger.json
    # A crash after the new ledger.json but before the old journal was removed.
    ledger.journal_path.write_bytes(old_journal)
    seen = ledger_in(tmp_path).peek()
    assert seen["job-0"].last_instant == 4.0 and seen["job-1"].last_instant == 4.0 + 10**6


def test_a_damaged_journal_line_stops_the_journal_and_is_set_aside(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    fill(ledger, 2)
    with ledger.transaction() as entries:
        entries["job-0"].last_instant = 5.0
    with open(ledger.journal_path, "ab") as handle:
        handle.write(b"not a journal line\n")
        handle.write(b'{"jobs":{"job-1":null}}\n')
    reader = ledger_in(tmp_path)
    assert sorted(reader.peek()) == ["job-0", "job-1"]  # nothing after the damage counts
    with reader.transaction() as entries:
        entries["job-1"].last_instant = 6.0
    assert ledger.journal_path.with_suffix(".journal.damaged").exists()
    seen = ledger_in(tmp_path).peek()
    assert (seen["job-0"].last_instant, seen["job-1"].last_instant) == (5.0, 6.0)


CHILD = """
import sys
from pathlib import Path
from scoot.records.killpoints import install_from_env
from scoot.schedule.ledger import Ledger
from scoot.schedule.ledger_entries import JobEntry

install_from_env()
directory = Path(sys.argv[1])
ledger = Ledger(directory / "ledger.json", directory / "ledger.lock",
                compact_min_bytes=int(sys.argv[2]))
with ledger.transaction() as entries:
    entries["new"] = JobEntry("manual", last_instant=123.0)
    if "job-0" in entries:
        entries["job-0"].last_instant = 456.0
"""


def commit_in_child(directory: Path, compact_min_bytes: int, kill_point: int | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != KILL_AFTER_FSYNC_ENV}
    if kill_point is not None:
        env[KILL_AFTER_FSYNC_ENV] = str(kill_point)
    argv = [sys.executable, "-c", CHILD, str(directory), str(compact_min_bytes)]
    return subprocess.run(argv, env=env, timeout=60).returncode


def snapshot(directory: Path) -> dict[str, JobEntry]:
    return dict(ledger_in(directory).peek())


def kill_at_each_fsync(template: Path, tmp_path: Path, compact_min_bytes: int) -> int:
    """Kill the commit after each of its fsyncs; returns how many kill points it has."""
    before = snapshot(template)
    after = dict(before)
    after["new"] = JobEntry("manual", last_instant=123.0)
    if "job-0" in before:
        old = before["job-0"]
        after["job-0"] = JobEntry(old.trigger, 456.0, first_seen=old.first_seen)
    for point in range(1, 20):
        home = tmp_path / f"{template.name}-{point}"
        shutil.copytree(template, home)
        code = commit_in_child(home, compact_min_bytes, point)
        seen = snapshot(home)
        if code == 0:
            assert seen == after
            return point - 1
        assert code == -signal.SIGKILL
        # Killed after an fsync: the commit happened whole or not at all.
        assert seen in (before, after), (point, seen)
        # And the ledger still takes commits, which every reader then sees.
        assert commit_in_child(home, compact_min_bytes, None) == 0
        assert snapshot(home) == after
    raise AssertionError("the commit never completed")


def test_every_ledger_write_killed_after_each_fsync_is_whole_or_absent(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"  # no ledger.json yet: written whole
    fresh.mkdir()
    assert kill_at_each_fsync(fresh, tmp_path, 1 << 20) == 2  # the file, its directory

    based = tmp_path / "based"  # a ledger.json and no journal: the journal is created
    based.mkdir()
    fill(ledger_in(based), 5)
    assert kill_at_each_fsync(based, tmp_path, 1 << 20) == 2  # the journal, its directory

    journaled = tmp_path / "journaled"  # a journal to append to: one fsync
    shutil.copytree(based, journaled)
    with ledger_in(journaled).transaction() as entries:
        entries["job-1"].last_instant = 1.0
    assert kill_at_each_fsync(journaled, tmp_path, 1 << 20) == 1

    # A journal about to outgrow ledger.json: folded into a new one (the file, its directory).
    bulky = tmp_path / "bulky"
    shutil.copytree(journaled, bulky)
    ledger = ledger_in(bulky)
    while ledger.journal_path.stat().st_size < ledger.path.stat().st_size - 50:
        with ledger.transaction() as entries:
            entries["job-1"].last_instant += 1
    assert kill_at_each_fsync(bulky, tmp_path, 0) == 2
    assert not (tmp_path / "bulky-3" / "ledger.journal").exists()


def test_entries_are_encoded_as_the_format_holds_them_by_id(tmp_path: Path) -> None:
    """Entries go to the encoder as they are: the bytes are those of each entry's to_dict,
    jobs sorted by id, flights as a list (and a table is never changed in place)."""
    entries = {
        "b-job": JobEntry("every:60", 1060.0, 1060.5, "r2", first_seen=900.0),
        "a-job": JobEntry("cron:*/5 * * * *"),
        "c-job": JobEntry("at:2000000000.25", first_seen=1.5),
    }
    entries["b-job"].add_flight(InFlight("r2", 1060.0, 1060.5, 42, 17.25))
    entries["b-job"].add_flight(InFlight("r3", None, 1061.0, 43, None))
    by_dicts = {k: v.to_dict() for k, v in sorted(entries.items())}
    assert orjson.loads(encode_ledger(entries, "t-1")) == {
        "format": FORMAT,
        "journal": "t-1",
        "jobs": by_dicts,
    }
    # Byte for byte: the keys of an entry and of a flight in the order the format has.
    assert encode_ledger(entries) == orjson.dumps({"format": FORMAT, "jobs": by_dicts}) + b"\n"
    line = change_line({"c-job": None, "b-job": entries["b-job"], "a-job": entries["a-job"]})
    assert (
        line
        == orjson.dumps(
            {"jobs": {"a-job": by_dicts["a-job"], "b-job": by_dicts["b-job"], "c-job": None}}
        )
        + b"\n"
    )
    flights = entries["b-job"].in_flight
    assert isinstance(flights, Flights) and list(flights) == ["r2", "r3"]
    with pytest.raises(TypeError):
        flights["r4"] = flights["r2"]  # type: ignore[index]
    assert flights.dropping("r2").dropping("r3") is NO_FLIGHTS
    assert copy.deepcopy(flights) == flights and pickle.loads(pickle.dumps(flights)) == flights
    assert flights == {"r2": flights["r2"], "r3": flights["r3"]} and flights != NO_FLIGHTS
    # And a ledger written this way reads back the same entries.
    ledger = ledger_in(tmp_path)
    with ledger.transaction() as working:
        working.update(entries)
    assert ledger_in(tmp_path).peek() == entries


def test_an_entry_given_any_other_mapping_of_flights_holds_a_flights_table() -> None:
    """A dict would reach the encoder as itself, written as an object the reader drops."""
    flight = InFlight("r1", 1060.0, 1060.0, 42, None)
    entry = JobEntry("every:60", in_flight={"r1": flight})  # type: ignore[arg-type]
    assert isinstance(entry.in_flight, Flights) and entry.in_flight == {"r1": flight}
    assert JobEntry("every:60", in_flight={}).in_flight is NO_FLIGHTS  # type: ignore[arg-type]
    line = orjson.loads(change_line({"a": dataclasses.replace(entry, last_instant=1.0)}))
    assert line["jobs"]["a"]["in_flight"] == [flight.to_dict()]
