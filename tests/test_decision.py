"""One due job's decision (scoot.schedule.decision): pure, asked only what it needs."""

from __future__ import annotations

import dataclasses

from scoot.schedule.decision import Facts, decide_job
from scoot.schedule.jobs import Job, validate_jobs
from scoot.schedule.ledger import JobEntry
from scoot.schedule.pauses import Pause

NOW = 1_800_000_000.0


def job(**keys: object) -> Job:
    (found,) = validate_jobs([{"id": "j", "goal": "g", **keys}]).jobs
    return found


def facts(
    asked: list[str], *, spent: str | None = None, holder: str | None = None, **kw: object
) -> Facts:
    def budget() -> str | None:
        asked.append("budget")
        return spent

    def who() -> str | None:
        asked.append("holder")
        return holder

    values: dict[str, object] = {"now": NOW, "pause": None, "budget_skip_audited": False, **kw}
    return Facts(budget_spent=budget, holder=who, **values)  # type: ignore[arg-type]


def test_a_fresh_every_job_fires_now_and_the_entry_is_only_read() -> None:
    entry = JobEntry("every:60")
    before = dataclasses.replace(entry, in_flight=dict(entry.in_flight))
    asked: list[str] = []
    decision = decide_job(job(every_sec=60), entry, facts(asked))
    assert (decision.fire_instant, decision.first_seen, decision.next_due) == (NOW, NOW, NOW + 60)
    assert decision.budget_skip_audited is False and decision.events == []
    assert asked == ["budget", "holder"]
    assert entry == before  # the scheduler writes the decision, not the decision itself


def test_nothing_due_asks_neither_the_budget_nor_the_process_table() -> None:
    asked: list[str] = []
    decision = decide_job(job(at_unix=NOW + 100), JobEntry("at", first_seen=NOW - 1), facts(asked))
    assert decision.fire_instant is None and decision.next_due == NOW + 100
    assert asked == []


def test_a_spent_budget_is_audited_once_and_the_holder_is_not_asked() -> None:
    asked: list[str] = []
    first = decide_job(job(every_sec=60), JobEntry("every:60"), facts(asked, spent="day budget"))
    assert first.fire_instant is None and first.budget_skip_audited is True
    assert [e[0] for e in first.events] == ["job_skipped"]
    assert first.events[0][2]["reason"] == "budget"
    again = decide_job(
        job(every_sec=60),
        JobEntry("every:60"),
        facts(asked, spent="day budget", budget_skip_audited=True),
    )
    assert again.events == [] and again.budget_skip_audited is None
    assert asked == ["budget", "budget"]


def test_an_overlap_is_skipped_with_its_holder_named() -> None:
    asked: list[str] = []
    decision = decide_job(job(every_sec=60), JobEntry("every:60"), facts(asked, holder="pid 7"))
    assert decision.fire_instant is None
    (kind, message, fields) = decision.events[0]
    assert kind == "job_skipped" and "(pid 7)" in message and fields["reason"] == "overlap"


def test_a_paused_job_records_its_instants_as_skipped_never_missed() -> None:
    asked: list[str] = []
    entry = JobEntry("every:60", last_instant=NOW - 600, first_seen=NOW - 3600)
    pause = Pause(reason="maintenance", since=NOW - 700)
    decision = decide_job(job(every_sec=60), entry, facts(asked, pause=pause))
    assert decision.fire_instant is None and decision.last_instant == NOW
    (kind, message, fields) = decision.events[0]
    assert kind == "job_skipped" and fields["count"] == 10 and "paused: maintenance" in message
    assert asked == []
