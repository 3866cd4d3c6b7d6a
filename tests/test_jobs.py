"""Validation of `[[schedule.jobs]]` entries: ids, triggers, modes, goals and per-job keys."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scoot.instance.config import MAX_WHOLE
from scoot.schedule.job_model import DEFAULT_OPTIONS, JobOptions
from scoot.schedule.jobs import (
    KNOWN_KEYS,
    MAX_AT_UNIX,
    InvalidJob,
    Job,
    validate_job,
    validate_jobs,
)


def entry(**keys: Any) -> dict[str, Any]:
    """A valid job entry, changed by `keys` (a value of None removes the key)."""
    base: dict[str, Any] = {"id": "job-1", "goal": "Summarize disk usage", "every_sec": 60}
    base.update(keys)
    return {k: v for k, v in base.items() if v is not None}


def valid(raw: dict[str, Any]) -> Job:
    job, bad, _ = validate_job(raw, 1)
    assert bad is None, bad
    assert job is not None
    return job


def invalid(raw: Any) -> InvalidJob:
    job, bad, _ = validate_job(raw, 1)
    assert job is None, job
    assert bad is not None
    return bad


# --- ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["a", "A.b_c-9", "x" * 64, "..a", "-"])
def test_good_ids(job_id: str) -> None:
    assert valid(entry(id=job_id)).id == job_id


@pytest.mark.parametrize(
    "job_id",
    ["", "x" * 65, "../x", "a/b", "a b", ".", "..", "é", "a\nb", "a\x00b", 5, None, ["a"]],
)
def test_bad_ids(job_id: Any) -> None:
    bad = invalid(entry(id=job_id) if job_id is not None else entry(id=None))
    assert "id" in bad.reason
    assert "A-Z a-z 0-9 . _ -" in bad.reason


def test_duplicate_id_makes_the_second_invalid_and_keeps_the_first() -> None:
    jobset = validate_jobs(
        [entry(id="a", goal="first"), entry(id="b"), entry(id="a", goal="second")]
    )
    assert [job.id for job in jobset.jobs] == ["a", "b"]
    assert jobset.by_id()["a"].goal == "first"
    (bad,) = jobset.invalid
    assert (bad.index, bad.id) == (3, "a")
    assert "duplicate id 'a'" in bad.reason and "#1" in bad.reason
    assert any("job 'a' skipped: duplicate id" in w for w in jobset.warnings)


def test_non_table_job_is_invalid() -> None:
    jobset = validate_jobs(["not a table", 3])
    assert jobset.jobs == ()
    assert [bad.reason for bad in jobset.invalid] == ["a job must be a table"] * 2
    assert [bad.index for bad in jobset.invalid] == [1, 2]


# --- triggers ----------------------------------------------------------------------------


def test_exactly_one_trigger() -> None:
    assert "no trigger" in invalid(entry(every_sec=None)).reason
    reason = invalid(entry(cron="* * * * *")).reason
    assert "several triggers" in reason and "every_sec" in reason and "cron" in reason
    assert "several triggers" in invalid(entry(every_sec=None, at_unix=1, cron="@x")).reason


@pytest.mark.parametrize("every", [1, 5, 86_400, MAX_WHOLE])
def test_good_every_sec(every: int) -> None:
    job = valid(entry(every_sec=every))
    assert job.trigger.kind == "every" and job.trigger.every_sec == every


@pytest.mark.parametrize("every", [0, -1, 1.5, 5.0, True, False, "5", None, MAX_WHOLE + 1])
def test_bad_every_sec(every: Any) -> None:
    raw = entry(every_sec=every) if every is not None else {**entry(), "every_sec": None}
    bad = invalid(raw)
    assert bad.reason.startswith("every_sec must be")


@pytest.mark.parametrize("at", [0, 1_700_000_000, 1_700_000_000.5, MAX_AT_UNIX])
def test_good_at_unix(at: float) -> None:
    job = valid(entry(every_sec=None, at_unix=at))
    assert job.trigger.kind == "at" and job.trigger.at_unix == float(at)


@pytest.mark.parametrize(
    "at", [-1, "2030-01-01", True, float("nan"), float("inf"), MAX_AT_UNIX + 1, 10**30]
)
def test_bad_at_unix(at: Any) -> None:
    assert invalid(entry(every_sec=None, at_unix=at)).reason.startswith("at_unix must be")


@pytest.mark.parametrize(
    "cron", ["* * * * *", "*/5 9-17 * * mon-fri", "0 0 1,15 * 0", "0 0 * * 7", "30 2 29 feb *"]
)
def test_good_cron(cron: str) -> None:
    job = valid(entry(every_sec=None, cron=cron))
    assert job.trigger.kind == "cron"


@pytest.mark.parametrize(
    "cron",
    ["* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "0 0 30 2 *", "a b c d e", ""],
)
def test_bad_cron_names_the_cron_error(cron: str) -> None:
    reason = invalid(entry(every_sec=None, cron=cron)).reason
    assert reason.startswith("invalid cron")
    # The expression is quoted once, by scoot or by the cron error, not by both.
    assert reason.count(f'"{cron}"') + reason.count(f"{cron!r}") == 1, reason
    assert len(reason) > len(f"invalid cron {cron!r}: ")


def test_cron_must_be_a_string() -> None:
    assert "cron must be a string" in invalid(entry(every_sec=None, cron=5)).reason


# --- modes -------------------------------------------------------------------------------


def test_default_mode_is_readonly_without_coercion() -> None:
    job = valid(entry())
    assert (job.mode.requested, job.mode.effective, job.mode.coerced) == (None, "readonly", False)


def test_guarded_is_coerced_to_readonly() -> None:
    job = valid(entry(mode="guarded"))
    assert (job.mode.effective, job.mode.coerced) == ("readonly", True)


def test_explicit_unrestricted_stays_unrestricted_with_a_warning() -> None:
    job = valid(entry(mode="unrestricted"))
    assert (job.mode.effective, job.mode.coerced) == ("unrestricted", False)
    assert job.mode.warning


@pytest.mark.parametrize("mode", ["yolo", "Unrestricted", "UNRESTRICTED", " readonly", 5, True])
def test_unknown_mode_never_loosens(mode: Any) -> None:
    job, bad, warnings = validate_job(entry(mode=mode), 1)
    assert bad is None and job is not None
    assert (job.mode.effective, job.mode.coerced) == ("readonly", True)
    assert len(warnings) == 1 and "readonly" in warnings[0] and "job-1" in warnings[0]


# --- goal and the other keys ---------------------------------------------------------------


@pytest.mark.parametrize("goal", [None, "", "   \n", 5, ["do it"]])
def test_missing_or_empty_goal_is_invalid(goal: Any) -> None:
    raw = entry(goal=goal) if goal is not None else entry(goal=None)
    assert "goal" in invalid(raw).reason


def test_goal_is_stripped() -> None:
    assert valid(entry(goal="  look around \n")).goal == "look around"


def test_optional_keys_are_read() -> None:
    job = valid(
        entry(
            timeout_sec=30,
            catch_up="once",
            max_late_sec=120,
            cwd="/",
            cpu_sec=10,
            address_space_mb=512,
            nofile=64,
            nproc=0,
            fsize_mb=1,
        )
    )
    assert job.timeout_sec == 30
    assert job.catch_up == "once"
    assert job.max_late_sec == 120.0
    assert job.cwd == "/"
    assert job.limits == {
        "cpu_sec": 10,
        "address_space_mb": 512,
        "nofile": 64,
        "nproc": 0,
        "fsize_mb": 1,
    }


def test_optional_keys_default() -> None:
    job = valid(entry())
    assert (job.timeout_sec, job.catch_up, job.max_late_sec, job.cwd, job.limits) == (
        None,
        "skip",
        None,
        None,
        {},
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout_sec", 0),
        ("timeout_sec", -5),
        ("timeout_sec", 1.5),
        ("timeout_sec", "10"),
        ("timeout_sec", True),
        ("timeout_sec", MAX_WHOLE + 1),
        ("catch_up", "always"),
        ("catch_up", True),
        ("catch_up", ["once"]),
        ("max_late_sec", -1),
        ("max_late_sec", "5"),
        ("max_late_sec", float("nan")),
        ("max_late_sec", float("inf")),
        ("max_late_sec", False),
        ("cwd", ""),
        ("cwd", 3),
        ("cpu_sec", -1),
        ("address_space_mb", 1.5),
        ("nofile", "64"),
        ("nproc", True),
        ("fsize_mb", 2**63),
    ],
)
def test_bad_optional_keys(key: str, value: Any) -> None:
    assert invalid(entry(**{key: value})).reason.startswith(f"{key} must be")


def test_unknown_job_key_is_warned_not_fatal() -> None:
    job, bad, warnings = validate_job(entry(colour="blue"), 1)
    assert job is not None and bad is None
    assert warnings == [
        f"job 'job-1': unknown key 'colour' ignored (known: {', '.join(sorted(KNOWN_KEYS))})"
    ]


def test_every_invalid_job_gets_one_warning_naming_it() -> None:
    jobset = validate_jobs([entry(id="ok"), entry(id="bad", every_sec=0), {"goal": "x"}])
    assert [job.id for job in jobset.jobs] == ["ok"]
    assert jobset.warnings == (
        "job 'bad' skipped: every_sec must be between 1 and 2147483647, got 0",
        "job #3 skipped: missing id (1 to 64 of A-Z a-z 0-9 . _ -)",
    )


def test_a_missing_cwd_makes_the_job_invalid() -> None:
    asked: list[str] = []

    def is_dir(path: str) -> bool:
        asked.append(path)
        return path == "/srv/data"

    job, bad, _ = validate_job(entry(cwd="/srv/data"), 1, is_dir)
    assert job is not None and bad is None
    job, bad, _ = validate_job(entry(cwd="/srv/gone"), 1, is_dir)
    assert job is None and bad is not None
    assert bad.reason == "cwd '/srv/gone' is not a directory: create it or fix the path"
    assert asked == ["/srv/data", "/srv/gone"]


# --- the rule table: exact messages, order, sharing ----------------------------------------

W = MAX_WHOLE


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"timeout_sec": 0}, f"timeout_sec must be a whole number from 1 to {W}, got 0"),
        ({"catch_up": "x"}, 'catch_up must be "skip" or "once", got \'x\''),
        ({"max_late_sec": -1}, f"max_late_sec must be a number from 0 to {W}, got -1"),
        ({"cwd": 3}, "cwd must be a path, got 3"),
        ({"nofile": "64"}, f"nofile must be a whole number from 0 to {W}, got '64'"),
        ({"jitter_sec": -2}, f"jitter_sec must be a whole number from 0 to {W}, got -2"),
        (
            {"pause_after_failures": 0},
            f"pause_after_failures must be a whole number from 1 to {W}, got 0",
        ),
        ({"backend": ""}, "backend must be the name of a backend, got ''"),
        (
            {"max_tokens_per_run": 0},
            f"max_tokens_per_run must be a whole number from 1 to {W}, got 0",
        ),
        (
            {"max_tokens_per_day": True},
            f"max_tokens_per_day must be a whole number from 1 to {W}, got True",
        ),
        ({"retries": -1}, f"retries must be a whole number from 0 to {W}, got -1"),
        (
            {"retry_backoff_sec": 1.5},
            f"retry_backoff_sec must be a whole number from 0 to {W}, got 1.5",
        ),
    ],
)
def test_each_rule_says_exactly_what_is_wrong(keys: dict[str, Any], reason: str) -> None:
    assert invalid(entry(**keys)).reason == reason


def test_the_first_broken_rule_in_table_order_is_the_one_reported() -> None:
    raw = entry(retries=-1, cpu_sec=-1, timeout_sec=0, backend="")
    assert invalid(raw).reason.startswith("timeout_sec must be")
    assert invalid(entry(retries=-1, cpu_sec=-1)).reason.startswith("cpu_sec must be")
    assert invalid(entry(retries=-1, backend="")).reason.startswith("backend must be")


def test_an_unknown_backend_and_a_bad_default_are_reported_per_job() -> None:
    job, bad, _ = validate_job(entry(backend="spare"), 1, backends=frozenset({"default"}))
    assert job is None and bad is not None
    assert bad.reason == (
        "backend 'spare' is not configured (known: default); add [backends.spare]"
    )
    # The defaults are checked like given values: a default no backend serves fails each job.
    jobset = validate_jobs([entry(id="a"), entry(id="b")], backends=frozenset({"x"}))
    assert [b.reason for b in jobset.invalid] == [
        "backend 'default' is not configured (known: x); add [backends.default]"
    ] * 2


def test_null_in_a_json_config_unsets_only_the_optional_keys() -> None:
    job = valid(entry() | {"timeout_sec": None, "cwd": None})
    assert (job.timeout_sec, job.cwd) == (None, None)
    assert invalid(entry() | {"retries": None}).reason.startswith("retries must be")


def test_jobs_with_one_cron_text_share_one_parsed_trigger() -> None:
    jobset = validate_jobs(
        [
            entry(id="a", every_sec=None, cron="*/5 * * * *"),
            entry(id="b", every_sec=None, cron="*/5 * * * *"),
            entry(id="c", every_sec=None, cron="*/5 * * * *", timezone="Europe/Berlin"),
        ]
    )
    a, b, c = jobset.jobs
    assert a.trigger is b.trigger
    assert c.trigger is not a.trigger and c.trigger.timezone == "Europe/Berlin"
    assert a.mode is b.mode  # one resolution per requested mode


def test_jobs_hold_no_per_instance_dict() -> None:
    # Ten thousand jobs in one daemon: slots, not a __dict__ per job and per trigger.
    job = valid(entry())
    assert not hasattr(job, "__dict__") and not hasattr(job.trigger, "__dict__")
    assert job.limits == {} and valid(entry(nofile=3)).limits == {"nofile": 3}


def test_jobs_that_set_the_same_options_share_one_options_object() -> None:
    jobs = validate_jobs(
        [
            entry(id="plain-1"),
            entry(id="plain-2"),
            entry(id="short-1", timeout_sec=30, retries=2),
            entry(id="short-2", timeout_sec=30, retries=2),
            entry(id="other", timeout_sec=31),
            entry(id="limited", cpu_sec=60),
        ]
    ).by_id()
    assert jobs["plain-1"].options is jobs["plain-2"].options is DEFAULT_OPTIONS
    assert jobs["short-1"].options is jobs["short-2"].options
    assert (jobs["short-1"].timeout_sec, jobs["short-1"].retries) == (30, 2)
    assert jobs["other"].options is not jobs["short-1"].options
    assert jobs["other"].timeout_sec == 31 and jobs["other"].retries == 0
    assert dict(jobs["limited"].limits) == {"cpu_sec": 60}  # its own options: a dict
    # A job is equal to another by its options' values, not their identity.
    assert jobs["short-1"] != jobs["short-2"]  # ids differ
    changed = jobs["short-1"].with_options(retries=5)
    assert changed.retries == 5 and changed.timeout_sec == 30 and changed.id == "short-1"
    assert jobs["short-2"].retries == 2  # the shared options were not changed
    assert changed.with_options(retries=2) == jobs["short-1"]


def test_every_option_reads_through_the_job() -> None:
    job = valid(entry(timeout_sec=45, cwd=None, backend="default", retry_backoff_sec=7))
    for name in (f.name for f in dataclasses.fields(JobOptions)):
        assert getattr(job, name) == getattr(job.options, name)
    assert (job.timeout_sec, job.retry_backoff_sec) == (45, 7)


def test_options_equal_in_value_but_not_in_type_are_not_shared() -> None:
    from scoot.schedule.jobs import _Pass

    run = _Pass(lambda _path: True, "UTC", 0, None)
    whole, real = run.options({"max_late_sec": 5}), run.options({"max_late_sec": 5.0})
    assert whole is not real and type(whole.max_late_sec) is int
    assert run.options({"max_late_sec": 5}) is whole  # and equal ones are
    # As validated, the value is a float either way, and the two jobs share.
    jobs = validate_jobs([entry(id="a", max_late_sec=5), entry(id="b", max_late_sec=5.0)]).by_id()
    assert jobs["a"].options is jobs["b"].options and type(jobs["a"].max_late_sec) is float
