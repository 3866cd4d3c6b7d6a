"""Fresh copies of parsed values: equal, sharing no object with the parse, repeated texts once."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from scoot.instance.open import open_instance
from scoot.schedule.jobs import validate_jobs
from scoot.shared.fresh import MAX_COPIED_DEPTH, fresh_copy


def objects(value: Any) -> list[Any]:
    """Every string, number, list and table in `value`, itself first."""
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found += objects(item)
    elif isinstance(value, list):
        for item in value:
            found += objects(item)
    return found


def test_a_copy_is_equal_and_shares_no_string_number_list_or_table() -> None:
    parsed = tomllib.loads(
        'id = "job-1"\ngoal = "Summarize disk usage"\nat_unix = 1767225600.25\n'
        'limits = { memory_mb = 512, cpu_sec = 100000 }\nnotify = ["ops", "chat"]\nx = "é"\n'
    )
    copied = fresh_copy(parsed, {})
    assert copied == parsed
    originals = {id(o) for o in objects(parsed) if not isinstance(o, bool)}
    # Small ints (here none) are the interpreter's own; everything else is new.
    assert not originals & {id(o) for o in objects(copied)}


def test_signs_and_nan_are_kept_and_other_values_returned_as_they_are() -> None:
    negative_zero = fresh_copy(-0.0, {})
    assert negative_zero == 0 and math.copysign(1, negative_zero) == -1
    assert math.isnan(fresh_copy(float("nan"), {}))
    big = 10**30
    assert fresh_copy(big, {}) == big and fresh_copy(big, {}) is not big
    for kept in (None, True, False, ("a", "tuple")):
        assert fresh_copy(kept, {}) is kept


def test_repeated_texts_share_one_copy() -> None:
    strings: dict[str, str] = {}
    goal = "".join(("check ", "disk"))  # built at run time: not a shared constant
    first = fresh_copy({"goal": goal}, strings)
    second = fresh_copy({"goal": "".join(("check ", "disk"))}, strings)
    assert first["goal"] is second["goal"] and first["goal"] is not goal
    one = fresh_copy("g", {})
    assert one == "g" and len(strings) == 1


def test_validated_jobs_keep_nothing_of_the_parsed_tables() -> None:
    raw = tomllib.loads(
        "".join(
            f'[[jobs]]\nid = "job-{n}"\ngoal = "Summarize disk usage"\nat_unix = {2e9 + n}\n'
            for n in range(3)
        )
    )["jobs"]
    jobset = validate_jobs(raw, fresh=True)
    assert [job.id for job in jobset.jobs] == ["job-0", "job-1", "job-2"]
    for job, entry in zip(jobset.jobs, raw, strict=True):
        assert job.id is not entry["id"] and job.goal is not entry["goal"]
        assert (
            job.trigger.at_unix == entry["at_unix"] and job.trigger.at_unix is not entry["at_unix"]
        )
    # One goal text, copied once for all three.
    assert len({id(job.goal) for job in jobset.jobs}) == 1
    # A reader that prints and exits keeps the parsed values: no copying to pay for.
    plain = validate_jobs(raw)
    assert all(job.id is entry["id"] for job, entry in zip(plain.jobs, raw, strict=True))


def test_a_table_nested_deeper_than_any_job_value_is_kept_not_copied(tmp_path: Path) -> None:
    """TOML's dotted keys nest a table to any depth without recursion; the copy must not
    recurse into it (a daemon's start and its reload would end in RecursionError)."""
    deep = ".".join(["a"] * 2000)
    (tmp_path / "config.toml").write_text(
        f'[[schedule.jobs]]\nid = "j"\ngoal = "g"\nevery_sec = 60\njunk.{deep} = 1\n'
        '[[schedule.jobs]]\nid = "k"\ngoal = "g"\nevery_sec = 60\nnotify = ["x"]\n'
    )
    for long_lived in (False, True):
        instance = open_instance(str(tmp_path), long_lived=long_lived)
        assert [job.id for job in instance.jobset.jobs] == ["j"]
        assert any("unknown key 'junk'" in text for text in instance.jobset.warnings)
    nested: Any = 1
    for _ in range(2000):
        nested = {"a": nested}
    copied = fresh_copy(nested, {})
    assert copied == nested and copied is not nested
    inner, original = copied, nested
    for _ in range(MAX_COPIED_DEPTH):
        inner, original = inner["a"], original["a"]
    assert inner is original  # from here down, the parser's own tables
