"""Exports of zoned, jittered and paused jobs agree with the daemon, read back independently."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from scoot.export import export_jobs
from scoot.schedule.jobs import validate_jobs
from scoot.schedule.zoned import load_zone, next_after_in
from tests.helpers import run_scoot, write_config
from tests.test_units import calendar_elapses, parse_unit, systemd_analyze

NOW = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def export(fmt: str, *entries: dict[str, Any], paused: frozenset[str] = frozenset()):
    jobset = validate_jobs([{"goal": "g", **entry} for entry in entries])
    assert not jobset.invalid, jobset.invalid
    home = "/var/lib/scoot/home" if fmt == "kubernetes" else "/var/lib/scoot"
    return export_jobs(
        jobset.jobs, fmt=fmt, home_path=home, now=NOW, default_timeout_sec=600, paused=paused
    )


@pytest.mark.parametrize(
    ("expr", "zone"),
    [
        ("0 9 * * *", "Europe/Berlin"),
        ("30 8 * * 1-5", "America/New_York"),
        ("15 4 * * *", "Australia/Sydney"),
        ("0 9 1,15 * fri", "Australia/Lord_Howe"),
        ("*/30 10-16 * * *", "Asia/Kolkata"),
    ],
)
def test_zoned_timers_fire_when_the_daemon_would_across_dst(expr: str, zone: str) -> None:
    systemd_analyze()
    result = export("systemd", {"id": "j", "cron": expr, "timezone": zone})
    assert not result.refused, result.refused
    calendars = parse_unit(result.files["scoot-job-j.timer"])["Timer"]["OnCalendar"]
    assert all(line.endswith(f" {zone}") for line in calendars)
    expr_zone = load_zone(zone)
    from scoot.schedule.cron import parse_cron

    parsed = parse_cron(expr)
    # Bases just before the northern and southern changes of 2026.
    for base in (datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)):
        count = 12
        elapses = calendar_elapses(calendars, base, count)
        expected, t = [], base.timestamp()
        for _ in range(count):
            t = next_after_in(parsed, expr_zone, t)
            expected.append(int(t))
        assert [int(e.timestamp()) for e in elapses] == expected, calendars


@pytest.mark.parametrize(
    ("expr", "zone", "day"),
    [
        ("30 2 * * *", "Europe/Berlin", "2026-03-29"),  # does not exist
        ("30 1 * * *", "America/New_York", "2026-11-01"),  # occurs twice
        ("*/5 * * * *", "Europe/Berlin", "2026-03-29"),
        ("10 2 * * *", "Australia/Lord_Howe", "2026-10-04"),  # a 30-minute gap
    ],
)
def test_a_wall_time_in_a_dst_change_is_refused_by_both_targets(
    expr: str, zone: str, day: str
) -> None:
    for fmt in ("systemd", "kubernetes"):
        result = export(fmt, {"id": "j", "cron": expr, "timezone": zone})
        assert not result.files
        ((_, reason),) = result.refused
        assert zone in reason and day in reason and "daylight-saving" in reason


def test_cronjob_carries_the_zone_and_suspend_and_reads_back_with_pyyaml() -> None:
    result = export(
        "kubernetes",
        {"id": "berlin", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
        {"id": "utc", "cron": "0 9 * * *"},
        paused=frozenset({"utc"}),
    )
    berlin = yaml.safe_load(result.files["scoot-job-berlin.yaml"])
    utc = yaml.safe_load(result.files["scoot-job-utc.yaml"])
    assert berlin["spec"]["timeZone"] == "Europe/Berlin" and "suspend" not in berlin["spec"]
    assert utc["spec"]["timeZone"] == "Etc/UTC" and utc["spec"]["suspend"] is True


def test_jitter_maps_to_a_fixed_randomized_delay_or_is_refused() -> None:
    result = export(
        "systemd",
        {"id": "hourly", "cron": "0 * * * *", "jitter_sec": 120},
        {"id": "minutely", "cron": "* * * * *", "jitter_sec": 60},
        {"id": "grid", "every_sec": 300, "jitter_sec": 299},
    )
    timer = parse_unit(result.files["scoot-job-hourly.timer"])["Timer"]
    assert timer["RandomizedDelaySec"] == ["120s"] and timer["FixedRandomDelay"] == ["yes"]
    assert "RandomizedDelaySec" not in parse_unit(result.files["scoot-job-grid.timer"])[
        "Timer"
    ] or (
        parse_unit(result.files["scoot-job-grid.timer"])["Timer"]["RandomizedDelaySec"] == ["299s"]
    )
    refused = dict(result.refused)
    assert set(refused) == {"minutely"} and "60 s between two instants" in refused["minutely"]
    k8s = export("kubernetes", {"id": "hourly", "cron": "0 * * * *", "jitter_sec": 120})
    assert not k8s.files and "no start delay" in k8s.refused[0][1]


def test_paused_job_is_not_exported_as_a_running_timer() -> None:
    result = export("systemd", {"id": "p", "every_sec": 60}, paused=frozenset({"p"}))
    assert not result.files and "paused" in result.refused[0][1]


def test_cli_kubernetes_stdout_is_one_document_per_job(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        jobs=[
            {"id": "a", "goal": "g", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
            {"id": "b", "goal": "g", "every_sec": 300},
            {"id": "c", "goal": "g", "cron": "15 3 * * 0"},
        ],
    )
    assert run_scoot(home, "schedule", "pause", "c", "--reason", "r").returncode == 0
    done = run_scoot(home, "schedule", "export", "--format", "kubernetes")
    assert done.returncode == 0, done.stderr
    documents = [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]
    assert [doc["metadata"]["annotations"]["scoot/job-id"] for doc in documents] == ["a", "b", "c"]
    assert documents[0]["spec"]["timeZone"] == "Europe/Berlin"
    assert documents[2]["spec"]["suspend"] is True


def test_zoned_and_jittered_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    from tests.test_units import installed_scoot, verifiable_copy, verify_problems

    systemd_analyze()
    result = export(
        "systemd",
        {"id": "z", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin", "jitter_sec": 600},
    )
    paths = [
        verifiable_copy(text, tmp_path, name, installed_scoot())
        for name, text in result.files.items()
    ]
    assert verify_problems(paths, user=False, runtime_dir=tmp_path / "run") == []
