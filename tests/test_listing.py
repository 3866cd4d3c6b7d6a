"""`schedule list`: rows from jobs, ledger and history (pure), and the command end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scoot.cli.listing import GOAL_WIDTH, build_rows, render_json, render_text
from scoot.instance.home import Home
from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import FORMAT, JobEntry

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, a Tuesday
LONG_GOAL = "Inspect disk usage on every mounted filesystem and summarize anything unusual"
HEADER = {"enabled": True, "poll_ms": 1000, "jobs": 0, "config_file": "/etc/scoot/config.toml"}

RAW_JOBS: list[dict[str, Any]] = [
    {"id": "disk", "goal": LONG_GOAL, "every_sec": 300},
    {"id": "weekly", "goal": "Weekly report", "cron": "0 12 * * mon", "mode": "guarded"},
    {"id": "later", "goal": "Once, later", "at_unix": NOW + 3600, "mode": "unrestricted"},
    {"id": "odd", "goal": "Odd mode", "every_sec": 60, "mode": "yolo"},
    {"id": "../x", "goal": "Bad id", "every_sec": 5},
    {"id": "disk", "goal": "Same id again", "every_sec": 5},
]


def rows_for(
    raw: list[dict[str, Any]],
    *,
    enabled: bool = True,
    entries: dict[str, JobEntry] | None = None,
    last_runs: dict[str, dict[str, Any]] | None = None,
) -> list[Any]:
    return build_rows(
        validate_jobs(raw),
        enabled=enabled,
        now=NOW,
        entries=entries or {},
        last_runs=last_runs or {},
    )


def block(lines: list[str], job_id: str) -> list[str]:
    """The row of one job: its head line and the indented lines after it."""
    for start, line in enumerate(lines):
        if line.split()[1:2] == [job_id] and line.split()[0] in ("ACTIVE", "INACTIVE"):
            out = [line]
            for rest in lines[start + 1 :]:
                if not rest.startswith("         "):
                    break
                out.append(rest)
            return out
    raise AssertionError(f"no row for {job_id!r} in {lines}")


# --- pure rows and rendering ---------------------------------------------------------------


def test_rows_keep_config_order_with_invalid_jobs_in_place() -> None:
    rows = rows_for(RAW_JOBS)
    assert [(r.index, r.id, r.active) for r in rows] == [
        (1, "disk", True),
        (2, "weekly", True),
        (3, "later", True),
        (4, "odd", True),
        (5, "../x", False),
        (6, "disk", False),
    ]


def test_header_and_rows_in_text() -> None:
    lines = render_text(rows_for(RAW_JOBS), {**HEADER, "jobs": 6})
    assert lines[0] == (
        "schedule: enabled   poll_ms: 1000   jobs: 6   config: /etc/scoot/config.toml"
    )
    assert not any(line.startswith("hint:") for line in lines)

    disk = block(lines, "disk")
    assert disk[0] == "ACTIVE   disk  every 5m  mode=readonly"
    assert "         next: now (due at 2023-11-14 22:13:20 UTC)" in disk
    goal_line = next(line for line in disk if line.startswith("         goal: "))
    shown = goal_line.removeprefix("         goal: ")
    assert len(shown) == GOAL_WIDTH and shown.endswith("…")
    assert LONG_GOAL.startswith(shown[:-1])

    weekly = block(lines, "weekly")
    assert weekly[0] == "ACTIVE   weekly  at 12:00 UTC on Mon  mode=readonly (coerced from guarded)"
    assert "         next: 2023-11-20 12:00:00 UTC" in weekly

    later = block(lines, "later")
    assert later[0].startswith("ACTIVE   later  once at 2023-11-14 23:13:20 UTC  mode=unrestricted")
    assert "(coerced" not in later[0]
    assert "         next: 2023-11-14 23:13:20 UTC" in later
    assert any(line.startswith("         WARNING: unrestricted") for line in later)

    odd = block(lines, "odd")
    assert odd[0].endswith("mode=readonly (coerced from yolo)")
    assert not any("WARNING" in line for line in odd)


def test_invalid_rows_say_which_rule() -> None:
    lines = render_text(rows_for(RAW_JOBS), {**HEADER, "jobs": 6})
    bad_id = block(lines, "../x")
    assert bad_id[0] == "INACTIVE ../x"
    assert bad_id[1].startswith("         reason: invalid: invalid id '../x'")
    assert not any("next:" in line for line in bad_id)
    dup = [line for line in lines if line.startswith("         reason: invalid: duplicate id")]
    assert len(dup) == 1 and "first used by job #1" in dup[0]


def test_disabled_schedule_makes_every_job_inactive_with_a_hint() -> None:
    rows = rows_for(RAW_JOBS[:3], enabled=False)
    assert all(not r.active and r.reason == "schedule disabled" for r in rows)
    assert all(r.next_fire_unix is None for r in rows)
    lines = render_text(rows, {**HEADER, "enabled": False, "jobs": 3})
    assert lines[0].startswith("schedule: disabled")
    assert lines[1].startswith("hint: ") and "enabled = true" in lines[1]
    assert not any("next:" in line for line in lines)


def test_one_shot_already_fired_is_inactive() -> None:
    raw = [{"id": "once", "goal": "g", "at_unix": NOW - 60}]
    trigger_key = validate_jobs(raw).jobs[0].trigger.key
    entries = {"once": JobEntry(trigger_key, last_instant=NOW - 60, last_fired=NOW - 59)}
    (row,) = rows_for(raw, entries=entries)
    assert (row.active, row.reason) == (False, "one-shot already fired")
    # A ledger entry for another trigger (the job was edited) does not count.
    entries = {"once": JobEntry("at:1", last_instant=1.0)}
    (row,) = rows_for(raw, entries=entries)
    assert row.active and row.next_fire_due_now


def test_one_shot_past_its_grace_is_inactive() -> None:
    raw = [{"id": "once", "goal": "g", "at_unix": NOW - 600, "max_late_sec": 60}]
    (row,) = rows_for(raw)
    assert (row.active, row.reason) == (False, "one-shot already past its max_late_sec")


def test_last_run_is_shown() -> None:
    lines = render_text(
        rows_for(RAW_JOBS[:1], last_runs={"disk": {"status": "timeout", "ended_at": NOW - 5}}),
        HEADER,
    )
    assert "         last run: timeout at 2023-11-14 22:13:15 UTC" in lines


def test_no_jobs_says_how_to_add_them() -> None:
    lines = render_text([], {**HEADER, "jobs": 0})
    assert lines[-1].startswith("no jobs configured: add [[schedule.jobs]]")


def test_json_structure() -> None:
    doc = render_json(rows_for(RAW_JOBS), {**HEADER, "jobs": 6})
    assert doc["schedule"] == {**HEADER, "jobs": 6}
    assert len(doc["jobs"]) == 6
    first = doc["jobs"][0]
    assert set(first) == {
        "id",
        "index",
        "active",
        "reason",
        "trigger",
        "mode_requested",
        "mode_effective",
        "mode_coerced",
        "warning",
        "next_fire_unix",
        "next_fire_due_now",
        "next_fire_utc",
        "goal",
        "last_status",
        "last_ended_at",
        "paused",
        "paused_reason",
        "paused_until",
        "jitter_sec",
        "next_jitter_ms",
        "backend",
        "tokens_24h",
        "max_tokens_per_day",
        "max_tokens_per_run",
        "retries",
    }
    assert first["goal"] == LONG_GOAL  # full goal for scripts
    assert first["next_fire_utc"] == "2023-11-14 22:13:20 UTC"
    weekly = doc["jobs"][1]
    assert (weekly["mode_requested"], weekly["mode_effective"], weekly["mode_coerced"]) == (
        "guarded",
        "readonly",
        True,
    )
    assert doc["jobs"][2]["warning"]
    assert doc["jobs"][4]["reason"].startswith("invalid: ")
    assert doc["jobs"][4]["next_fire_utc"] is None
    json.dumps(doc)  # plain JSON types only


def test_control_characters_are_shown_escaped() -> None:
    raw = [{"id": "a\nb\x1b[2J", "goal": "g", "every_sec": 5}, entry_with_goal("g\x1b[31m red")]
    lines = render_text(rows_for(raw), HEADER)
    assert all("\x1b" not in line and "\n" not in line for line in lines)
    assert "INACTIVE a\\nb\\x1b[2J" in lines
    assert "         goal: g\\x1b[31m red" in lines


def entry_with_goal(goal: str) -> dict[str, Any]:
    return {"id": "ok", "goal": goal, "every_sec": 5}


# --- the command -------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under root with its mode and, for files, its bytes."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            found[str(path.relative_to(root))] = (
                st.st_mode,
                path.read_bytes() if path.is_file() else None,
            )
    return found


def toml_job(job: dict[str, Any]) -> str:
    # JSON strings and numbers are valid TOML values.
    body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in job.items())
    return f"\n[[schedule.jobs]]\n{body}"


def write_config(home: Home, enabled: bool = True) -> None:
    jobs = "".join(toml_job(job) for job in RAW_JOBS)
    home.config_toml.write_text(
        f"[schedule]\nenabled = {'true' if enabled else 'false'}\npoll_ms = 250\n{jobs}",
        encoding="utf-8",
    )


def test_schedule_list_command(run_main, home: Home) -> None:
    write_config(home)
    code, out, err = run_main("--scoot-home", str(home.root), "schedule", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"schedule: enabled   poll_ms: 250   jobs: 6   config: {home.config_toml}"
    assert block(lines, "weekly")[0].endswith("(coerced from guarded)")
    assert any(line.startswith("         WARNING: unrestricted") for line in lines)
    # Each skipped job and the unknown mode are warned once on stderr.
    assert err.count("scoot: warning: job '../x' skipped") == 1
    assert err.count("scoot: warning: job 'disk' skipped: duplicate id") == 1
    assert err.count("unknown mode 'yolo'") == 1
    assert "Traceback" not in err


def test_schedule_list_json_command(run_main, home: Home) -> None:
    write_config(home, enabled=False)
    code, out, _ = run_main("--scoot-home", str(home.root), "schedule", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schedule"] == {
        "enabled": False,
        "poll_ms": 250,
        "jobs": 6,
        "config_file": str(home.config_toml),
        "budget": {
            "tokens_24h": 0,
            "cost_24h": 0.0,
            "max_tokens_per_day": None,
            "max_cost_per_day": None,
        },
    }
    assert [job["active"] for job in doc["jobs"]] == [False] * 6
    assert doc["jobs"][0]["reason"] == "schedule disabled"


def test_schedule_list_changes_nothing_on_disk(run_main, home: Home) -> None:
    write_config(home)
    trigger_key = validate_jobs(RAW_JOBS).jobs[0].trigger.key
    home.ledger.write_text(
        json.dumps(
            {
                "format": FORMAT,
                "jobs": {"disk": {"trigger": trigger_key, "last_instant": 1.0, "in_flight": []}},
            }
        )
    )
    home.runs.write_text(json.dumps({"job_id": "disk", "status": "ok", "ended_at": 2.0}) + "\n")
    # The parsed copy of the config is a cache (docs/configuration.md), kept by any reader.
    run_main("--scoot-home", str(home.root), "config", "check")
    before = snapshot(home.root)
    for args in (["schedule", "list"], ["schedule", "list", "--json"]):
        code, out, _ = run_main("--scoot-home", str(home.root), *args)
        assert code == 0
    assert (
        "last run: ok at 1970-01-01 00:00:02 UTC"
        in run_main("--scoot-home", str(home.root), "schedule", "list").out
    )
    assert snapshot(home.root) == before


def test_schedule_list_creates_no_home(run_main, tmp_path: Path) -> None:
    root = tmp_path / "not-yet"
    code, out, _ = run_main("--scoot-home", str(root), "schedule", "list")
    assert code == 0
    assert "config: (none: defaults)" in out
    assert not root.exists()


def test_unreadable_ledger_is_warned_not_fatal(run_main, home: Home) -> None:
    write_config(home)
    home.ledger.write_text("{not json")
    code, out, err = run_main("--scoot-home", str(home.root), "schedule", "list")
    assert code == 0
    assert "ACTIVE   disk" in out
    assert f"ledger {home.ledger} unreadable" in err


def test_hand_edited_history_does_not_break_the_list(run_main, home: Home) -> None:
    write_config(home)
    home.runs.write_text(
        "\n".join(
            json.dumps(row)
            for row in (
                {"job_id": "disk", "status": "ok", "ended_at": "yesterday"},
                {"job_id": "weekly", "status": "ok", "ended_at": 1e300},
            )
        )
        + "\nnot json\n"
    )
    code, out, err = run_main("--scoot-home", str(home.root), "schedule", "list")
    assert code == 0, err
    assert "last run: ok at ?" in out
    code, out, err = run_main("--scoot-home", str(home.root), "schedule", "history")
    assert code == 0, err
    assert "unparseable" in err


def test_a_cron_job_that_never_fired_shows_its_missed_first_instant_as_due() -> None:
    # First seen at 11:00 UTC; the noon instant passed while scoot was down.
    raw = [{"id": "noon", "goal": "g", "cron": "0 12 * * *", "catch_up": "once"}]
    trigger_key = validate_jobs(raw).jobs[0].trigger.key
    noon = NOW - (NOW % 86400) + 12 * 3600
    if noon > NOW:
        noon -= 86400
    entries = {"noon": JobEntry(trigger_key, first_seen=noon - 3600)}
    (row,) = rows_for(raw, entries=entries)
    assert row.active and row.next_fire_due_now and row.next_fire_unix == noon
    # Without first_seen (a ledger from before it was kept) nothing was missed.
    (row,) = rows_for(raw, entries={"noon": JobEntry(trigger_key)})
    assert not row.next_fire_due_now and row.next_fire_unix == noon + 86400
