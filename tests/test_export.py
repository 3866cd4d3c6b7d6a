"""`scoot.export`: systemd units checked by systemd itself, CronJobs read back, and every refusal.

The Kubernetes output is block YAML whose scalars are all JSON, so `read_yaml`
below (a reader for exactly that subset) parses it without a YAML library.
Exactness is checked against independent oracles: systemd-analyze's own
calendar for the timers, and a reimplementation of the day rule of the
Kubernetes cron parser (robfig/cron) for the CronJob schedules.
"""

from __future__ import annotations

import json
import re
import shlex
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scoot.errors import ScootError
from scoot.export import (
    BACKSTOP_MARGIN_SEC,
    KUBERNETES_HOME,
    KUBERNETES_UID,
    MAX_CALENDAR_LINES,
    SYSTEM_HARDENING,
    USER_HARDENING,
    ExportError,
    ExportResult,
    export_jobs,
    kubernetes_name,
    refusal_lines,
    to_yaml,
    write_export,
)
from scoot.schedule.civil import civil_from_days, weekday_of
from scoot.schedule.cron import parse_cron
from scoot.schedule.cron_search import matches, next_after
from scoot.schedule.jobs import Job, validate_jobs
from scoot.testing.model_server import ScriptedModel
from tests import test_units
from tests.test_units import (
    calendar_elapses,
    doc_commands,
    installed_scoot,
    local_argv,
    parse_unit,
    run_local,
    systemd_analyze,
    verifiable_copy,
    verify_problems,
)

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC).timestamp()
FUTURE = datetime(2031, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()
HOME = "/var/lib/scoot"


def jobs_of(*entries: dict[str, Any]) -> tuple[Job, ...]:
    jobset = validate_jobs([{"goal": "check things", **entry} for entry in entries])
    assert not jobset.invalid, jobset.invalid
    return jobset.jobs


def systemd(*entries: dict[str, Any], **options: Any) -> ExportResult:
    settings = {"home_path": HOME, "now": NOW, "default_timeout_sec": 600, **options}
    return export_jobs(jobs_of(*entries), fmt="systemd", **settings)


def kubernetes(*entries: dict[str, Any], **options: Any) -> ExportResult:
    settings = {"home_path": KUBERNETES_HOME, "now": NOW, "default_timeout_sec": 600, **options}
    return export_jobs(jobs_of(*entries), fmt="kubernetes", **settings)


def timer_of(result: ExportResult, job_id: str) -> dict[str, list[str]]:
    return parse_unit(result.files[f"scoot-job-{job_id}.timer"])["Timer"]


# --- a reader for the YAML subset we write ------------------------------------------------------

_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_./-]*):(?: (.*))?$")


def read_yaml(text: str) -> Any:
    """Block mappings and sequences whose scalars are JSON; comments and blank lines skipped."""
    lines = [
        (len(raw) - len(raw.lstrip(" ")), raw.strip())
        for raw in text.splitlines()
        if raw.strip() and not raw.lstrip().startswith("#")
    ]
    value, end = _read_block(lines, 0, lines[0][0])
    assert end == len(lines), f"unread line: {lines[end]}"
    return value


def _read_block(lines: list[tuple[int, str]], pos: int, indent: int) -> tuple[Any, int]:
    if lines[pos][1].startswith("- "):
        return _read_sequence(lines, pos, indent)
    return _read_mapping(lines, pos, indent)


def _read_mapping(lines: list[tuple[int, str]], pos: int, indent: int) -> tuple[Any, int]:
    result: dict[str, Any] = {}
    while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
        content = lines[pos][1]
        if content.startswith('"'):
            key, used = json.JSONDecoder().raw_decode(content)
            rest = content[used:]
            assert rest.startswith(":"), content
            value_text = rest[1:].strip() or None
        else:
            match = _KEY.fullmatch(content)
            assert match, f"not a mapping entry: {content!r}"
            key, value_text = match.group(1), match.group(2)
        assert key not in result, f"duplicate key {key}"
        if value_text is None:
            child_indent = lines[pos + 1][0]
            assert child_indent > indent or lines[pos + 1][1].startswith("- ")
            result[key], pos = _read_block(lines, pos + 1, child_indent)
        else:
            result[key] = json.loads(value_text)
            pos += 1
    assert pos == len(lines) or lines[pos][0] < indent, f"bad indentation at {lines[pos]}"
    return result, pos


def _read_sequence(lines: list[tuple[int, str]], pos: int, indent: int) -> tuple[Any, int]:
    items: list[Any] = []
    while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
        inner = lines[pos][1][2:]
        if _KEY.fullmatch(inner):
            nested = [(indent + 2, inner), *lines[pos + 1 :]]
            value, used = _read_mapping(nested, 0, indent + 2)
            items.append(value)
            pos += used
        else:
            items.append(json.loads(inner))
            pos += 1
    return items, pos


def test_yaml_strings_are_safe_and_read_back_exactly() -> None:
    tricky = {
        "plain": "scoot:latest",
        "colon": "a: b",
        "comment": "# not a comment",
        "dash": "- not a list",
        "bool-like": "yes",
        "null-like": "null",
        "number-like": "1.0",
        "quotes": 'say "hi" \\ there',
        "newline": "one\ntwo",
        "unicode": "café ✓",
        "weird key!": "quoted key",
        "empty": {},
        "none": [],
        "nested": {"list": [{"a": 1, "b": True}, "x", 3]},
    }
    text = "\n".join(to_yaml(tricky))
    assert read_yaml(text) == tricky
    assert "\n    - a: 1\n      b: true\n" in text


def test_yaml_reads_back_the_same_with_pyyaml() -> None:
    import yaml  # in the test extra: an independent reader of what we emit

    for name, text in kubernetes({"id": "a", "every_sec": 300}).files.items():
        assert yaml.safe_load(text) == read_yaml(text), name


# --- systemd: verified by systemd ---------------------------------------------------------------

EXPORTABLE = (
    {"id": "five", "every_sec": 300},
    {"id": "ninety", "every_sec": 90},
    {"id": "quick", "every_sec": 5},
    {"id": "weekly", "every_sec": 604800},
    {"id": "vixie", "cron": "30 4 1,15 * fri", "catch_up": "once"},
    {"id": "and-step", "cron": "0 0 */2 * 5"},
    {"id": "office", "cron": "*/15 9-17 * * mon-fri", "timeout_sec": 120},
    {"id": "once", "at_unix": FUTURE},
    {"id": "Mixed_Case.id", "cron": "@monthly"},
    {"id": "-dash", "every_sec": 3600},
)


@pytest.mark.parametrize("scope", ["system", "user"])
def test_exported_units_pass_systemd_analyze_verify(tmp_path: Path, scope: str) -> None:
    systemd_analyze()
    result = systemd(*EXPORTABLE, scope=scope)
    assert result.refused == []
    assert len(result.files) == 2 * len(EXPORTABLE)
    copies = [
        verifiable_copy(text, tmp_path / "units", name, installed_scoot())
        for name, text in result.files.items()
    ]
    problems = verify_problems(copies, user=scope == "user", runtime_dir=tmp_path / "rt")
    assert problems == []


def test_exported_service_runs_one_trigger_with_the_shared_hardening() -> None:
    result = systemd({"id": "office", "cron": "0 9 * * 1", "timeout_sec": 120})
    service = parse_unit(result.files["scoot-job-office.service"])["Service"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == ["/usr/local/bin/scoot schedule trigger office"]
    assert service["Environment"] == [f"SCOOT_HOME={HOME}"]
    assert service["TimeoutStartSec"] == [f"{120 + 5 + BACKSTOP_MARGIN_SEC}s"]
    assert service["KillMode"] == ["mixed"]
    assert service["User"] == ["scoot"] and service["ReadWritePaths"] == [HOME]
    lines = {f"{key}={value}" for key, values in service.items() for value in values}
    assert set(SYSTEM_HARDENING) <= lines
    timer = timer_of(result, "office")
    assert timer["AccuracySec"] == ["1s"]
    assert timer["Unit"] == ["scoot-job-office.service"]


def test_user_scope_has_no_user_and_no_namespaces() -> None:
    result = systemd({"id": "a", "every_sec": 60}, scope="user", home_path="/home/ann/.scoot")
    service = parse_unit(result.files["scoot-job-a.service"])["Service"]
    assert "User" not in service and "ProtectSystem" not in service
    lines = {f"{key}={value}" for key, values in service.items() for value in values}
    assert set(USER_HARDENING) <= lines
    assert service["Environment"] == ["SCOOT_HOME=/home/ann/.scoot"]


def test_default_timeout_and_grace_settings_set_the_backstops() -> None:
    result = systemd(
        {"id": "a", "every_sec": 60},
        default_timeout_sec=50,
        kill_grace_sec=7,
        shutdown_grace_sec=20,
    )
    service = parse_unit(result.files["scoot-job-a.service"])["Service"]
    assert service["TimeoutStartSec"] == [f"{50 + 7 + BACKSTOP_MARGIN_SEC}s"]
    assert int(service["TimeoutStopSec"][0].rstrip("s")) > 20 + 7


def test_an_id_starting_with_a_dash_is_not_read_as_an_option(run_main) -> None:
    result = systemd({"id": "-dash", "every_sec": 60})
    service = parse_unit(result.files["scoot-job--dash.service"])["Service"]
    assert service["ExecStart"] == ["/usr/local/bin/scoot schedule trigger -- -dash"]
    # The real command line takes it as a job id, not an unknown option.
    code, _, err = run_main("schedule", "trigger", "--", "-dash")
    assert code == 2 and "no job '-dash'" in err, err


@pytest.mark.parametrize(
    "interval",
    [1, 5, 8, 45, 60, 90, 100, 300, 450, 900, 1200, 3600, 5400, 7200, 21600, 86400, 604800],
)
def test_every_sec_timers_fire_exactly_on_the_interval_grid(interval: int) -> None:
    systemd_analyze()
    calendars = timer_of(systemd({"id": "j", "every_sec": interval}), "j")["OnCalendar"]
    assert len(calendars) <= MAX_CALENDAR_LINES
    for base in (datetime(2024, 2, 29, 23, 58, 31, tzinfo=UTC), datetime(2026, 7, 4, tzinfo=UTC)):
        count = 6
        elapses = calendar_elapses(calendars, base, count)
        first = (int(base.timestamp()) // interval + 1) * interval
        expected = [first + k * interval for k in range(count)]
        assert [int(e.timestamp()) for e in elapses] == expected, calendars


@pytest.mark.parametrize(
    "expr",
    [
        "30 4 1,15 * fri",  # Vixie OR: two OnCalendar= lines
        "0 0 13 * 5",  # Friday the 13th rule: every 13th and every Friday
        "0 0 */2 * 5",  # star rule: odd days that are Fridays (AND)
        "*/15 9-17 * * mon-fri",
        "0 12 * jan,jul sun",
        "5 0 * 8 *",
        "0 22 * * 1-5",
        "@monthly",
        "0 0 * * 7",
        "0 0 29 2 *",
        "7,8,9,30-35 */6 1-10/3 */4 0,6",
        "0 1 31 * 1/2",
    ],
)
def test_cron_timers_fire_exactly_when_scoot_would(expr: str) -> None:
    systemd_analyze()
    calendars = timer_of(systemd({"id": "j", "cron": expr}), "j")["OnCalendar"]
    parsed = parse_cron(expr)
    assert len(calendars) == (2 if parsed.dom_restricted and parsed.dow_restricted else 1)
    for base in (datetime(2024, 2, 27, 23, 59, 30, tzinfo=UTC), datetime(2025, 12, 30, tzinfo=UTC)):
        count = 8
        elapses = calendar_elapses(calendars, base, count)
        expected, instant = [], base.timestamp()
        for _ in range(count):
            instant = next_after(parsed, instant)
            expected.append(int(instant))
        assert [int(e.timestamp()) for e in elapses] == expected, calendars


def test_a_one_time_instant_fires_once_then_never() -> None:
    systemd_analyze()
    timer = timer_of(systemd({"id": "once", "at_unix": FUTURE}), "once")
    assert timer["Persistent"] == ["true"]
    (calendar,) = timer["OnCalendar"]
    elapses = calendar_elapses([calendar], datetime(2030, 1, 1, tzinfo=UTC), 1)
    assert [int(e.timestamp()) for e in elapses] == [int(FUTURE)]


def test_persistent_follows_catch_up_and_the_grace_of_each_trigger() -> None:
    result = systemd(
        {"id": "cron-skip", "cron": "0 * * * *"},
        {"id": "cron-once", "cron": "0 * * * *", "catch_up": "once"},
        {"id": "every", "every_sec": 60},
        {"id": "every-late", "every_sec": 60, "max_late_sec": 60},
        {"id": "at", "at_unix": FUTURE},
    )
    persistent = {
        job: timer_of(result, job)["Persistent"][0]
        for job in ("cron-skip", "cron-once", "every", "every-late", "at")
    }
    assert persistent == {
        "cron-skip": "false",
        "cron-once": "true",
        "every": "true",  # the latest instant is always within one interval: it fires
        "every-late": "true",
        "at": "true",
    }


# --- refusals ----------------------------------------------------------------------------------


def test_systemd_refuses_what_it_cannot_fire_exactly_and_exports_the_rest() -> None:
    result = systemd(
        {"id": "seven", "every_sec": 7},
        {"id": "odd-day", "every_sec": 86400 * 2},
        {"id": "too-many", "every_sec": 128},
        {"id": "bounded", "every_sec": 600, "max_late_sec": 30},
        {"id": "cron-late", "cron": "0 * * * *", "max_late_sec": 120},
        {"id": "past", "at_unix": NOW - 1},
        {"id": "far", "at_unix": datetime(2200, 1, 1, tzinfo=UTC).timestamp()},
        {"id": "fine", "every_sec": 300},
    )
    reasons = dict(result.refused)
    assert list(reasons) == ["seven", "odd-day", "too-many", "bounded", "cron-late", "past", "far"]
    assert "does not divide a day" in reasons["seven"]
    assert "does not divide a day" in reasons["odd-day"]
    assert "OnCalendar= patterns" in reasons["too-many"]
    assert "max_late_sec" in reasons["bounded"] and "max_late_sec" in reasons["cron-late"]
    assert "already past" in reasons["past"] and "schedule trigger" in reasons["past"]
    assert "2199" in reasons["far"]
    assert set(result.files) == {"scoot-job-fine.service", "scoot-job-fine.timer"}
    lines = refusal_lines(result)
    assert lines[0].startswith("scoot: job seven not exported: every_sec=7")
    assert all("\n" not in line for line in lines)


def test_kubernetes_refuses_what_a_cronjob_cannot_fire_exactly() -> None:
    result = kubernetes(
        {"id": "ninety", "every_sec": 90},
        {"id": "seven-min", "every_sec": 420},
        {"id": "once", "at_unix": FUTURE},
        {"id": "and-step", "cron": "0 0 */2 * 5"},
        {"id": "hasty", "cron": "* * * * *", "max_late_sec": 5},
        {"id": "fine", "every_sec": 7200},
    )
    reasons = dict(result.refused)
    assert list(reasons) == ["ninety", "seven-min", "once", "and-step", "hasty"]
    assert "one cron schedule cannot repeat it exactly" in reasons["ninety"]
    assert "Job" in reasons["once"] and "cannot fire once" in reasons["once"]
    assert "either matches" in reasons["and-step"]
    assert "10 s" in reasons["hasty"]
    assert list(result.files) == ["scoot-job-fine.yaml"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fmt": "nomad"}, "unknown export format"),
        ({"home_path": "relative/home"}, "absolute path"),
        ({"home_path": "/srv/my scoot"}, "absolute path"),
        ({"fmt": "kubernetes", "home_path": "/var/lib/scoot/../../etc"}, "without '..'"),
        ({"scoot_bin": "/opt/sc%oot"}, "scoot executable"),
        ({"fmt": "kubernetes", "home_path": "/data/scoot"}, "outside the volume"),
        ({"image": " "}, "image is empty"),
    ],
)
def test_unusable_arguments_are_one_clear_line(options: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "fmt": "systemd",
        "home_path": HOME,
        "now": NOW,
        "default_timeout_sec": 600,
        **options,
    }
    with pytest.raises(ExportError) as raised:
        export_jobs(jobs_of({"id": "a", "every_sec": 60}), **settings)
    assert message in raised.value.message and "\n" not in raised.value.message
    assert raised.value.exit_code == 2


# --- Kubernetes: read back and checked against the cron parser it uses ----------------------------


def test_cronjob_carries_every_promised_setting() -> None:
    result = kubernetes({"id": "report", "cron": "0 6 * * *", "timeout_sec": 300})
    manifest = read_yaml(result.files["scoot-job-report.yaml"])
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "CronJob"
    assert manifest["metadata"]["name"] == "scoot-job-report"
    assert manifest["metadata"]["annotations"] == {"scoot/job-id": "report"}
    spec = manifest["spec"]
    assert spec["schedule"] == "0 6 * * *"
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 60
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] == 300 + 5 + BACKSTOP_MARGIN_SEC
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsUser"] == KUBERNETES_UID
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == "scoot:latest"
    assert container["command"] == ["/usr/local/bin/scoot", "schedule", "trigger", "report"]
    env = {item["name"]: item for item in container["env"]}
    assert env["SCOOT_HOME"]["value"] == KUBERNETES_HOME
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    guard = container["securityContext"]
    assert guard["readOnlyRootFilesystem"] is True
    assert guard["runAsNonRoot"] is True
    assert guard["allowPrivilegeEscalation"] is False
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert KUBERNETES_HOME.startswith(mounts["scoot-data"] + "/")
    assert volumes["scoot-data"]["persistentVolumeClaim"]["claimName"] == "scoot-data"
    assert volumes["tmp"]["emptyDir"] == {} and mounts["tmp"] == "/tmp"


def test_starting_deadline_is_the_grace_of_each_trigger() -> None:
    result = kubernetes(
        {"id": "cron-skip", "cron": "0 * * * *"},
        {"id": "cron-once", "cron": "0 * * * *", "catch_up": "once"},
        {"id": "cron-late", "cron": "0 * * * *", "max_late_sec": 900.5},
        {"id": "every", "every_sec": 300},
    )
    deadlines = {
        job_id: read_yaml(result.files[f"scoot-job-{job_id}.yaml"])["spec"].get(
            "startingDeadlineSeconds"
        )
        for job_id in ("cron-skip", "cron-once", "cron-late", "every")
    }
    assert deadlines == {"cron-skip": 60, "cron-once": None, "cron-late": 900, "every": 300}


def test_image_and_key_variable_are_carried_as_given() -> None:
    result = kubernetes(
        {"id": "a", "every_sec": 60},
        image='registry.example.com/scoot:1.0 "x"',
        api_key_env="MY_KEY",
    )
    (container,) = read_yaml(result.files["scoot-job-a.yaml"])["spec"]["jobTemplate"]["spec"][
        "template"
    ]["spec"]["containers"]
    assert container["image"] == 'registry.example.com/scoot:1.0 "x"'
    assert [item["name"] for item in container["env"]] == ["SCOOT_HOME", "MY_KEY"]


def robfig_matches(schedule: str, minute_start: float) -> bool:
    """Whether Kubernetes' cron parser (robfig/cron v3, standard 5 fields) fires at a minute.

    Its rules, independent of scoot.schedule.cron: ranges, steps and lists per field;
    a field is "star" only when an item is `*` (or `?`) with no step > 1; the
    day fields AND when either is star, else OR; day-of-week is 0-6.
    """
    bounds = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
    fields = schedule.split()
    assert len(fields) == 5
    sets: list[set[int]] = []
    stars: list[bool] = []
    for text, (low, high) in zip(fields, bounds, strict=True):
        values: set[int] = set()
        star = False
        for item in text.split(","):
            span, _, step_text = item.partition("/")
            step = int(step_text) if step_text else 1
            if span in ("*", "?"):
                first, last = low, high
                star = star or step == 1
            elif "-" in span:
                first, last = map(int, span.split("-"))
            else:
                first = int(span)
                last = high if step_text else first
            assert low <= first <= last <= high, f"{item} out of range"
            values.update(range(first, last + 1, step))
        sets.append(values)
        stars.append(star)
    day, second_of_day = divmod(int(minute_start), 86400)
    year, month, mday = civil_from_days(day)
    hour, minute = second_of_day // 3600, second_of_day % 3600 // 60
    dom_ok, dow_ok = mday in sets[2], weekday_of(day) in sets[4]
    day_ok = (dom_ok and dow_ok) if (stars[2] or stars[4]) else (dom_ok or dow_ok)
    return minute in sets[0] and hour in sets[1] and month in sets[3] and day_ok


@pytest.mark.parametrize(
    "expr",
    [
        "30 4 1,15 * fri",
        "0 0 13 * 5",
        "0 0 */2 * *",
        "0 0 * * */2",
        "0 0 1-31 * 1-5",
        "*/15 9-17 * * mon-fri",
        "0 12 * jan,jul sun",
        "0 0 * * 7",
        "0 1 31 * 1/2",
        "7,8,9,30-35 */6 1-10/3 */4 0,6",
        "@weekly",
    ],
)
def test_cronjob_schedules_match_the_same_minutes_as_scoot(expr: str) -> None:
    result = kubernetes({"id": "j", "cron": expr})
    assert result.refused == []
    schedule = read_yaml(result.files["scoot-job-j.yaml"])["spec"]["schedule"]
    parsed = parse_cron(expr)
    # Minutes and hours are plain sets; the day rule is what can differ, so check
    # every day of four years (a leap cycle's worth of weekday/date pairings) at a
    # matching time of day, and non-matching times too.
    start_day = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) // 86400
    at = parsed.hours[0] * 3600 + parsed.minutes[0] * 60
    for day in range(start_day, start_day + 4 * 366):
        instant = day * 86400 + at
        assert robfig_matches(schedule, instant) == matches(parsed, instant), (schedule, day)
    for offset in range(0, 86400, 60 * 7):
        instant = start_day * 86400 + 13 * 86400 + offset
        assert robfig_matches(schedule, instant) == matches(parsed, instant), (schedule, offset)


def test_the_refused_cron_would_really_fire_on_other_days() -> None:
    expr = "0 0 */2 * 5"  # scoot: odd days that are Fridays
    assert kubernetes({"id": "j", "cron": expr}).refused
    parsed = parse_cron(expr)
    tuesday_the_2nd = datetime(2024, 1, 2, tzinfo=UTC).timestamp()
    assert not matches(parsed, tuesday_the_2nd)
    assert robfig_matches(expr, tuesday_the_2nd - 86400)  # Jan 1st: an odd day, so robfig ORs it in
    assert not matches(parsed, tuesday_the_2nd - 86400)


@pytest.mark.parametrize(
    ("interval", "schedule"),
    [
        (60, "* * * * *"),
        (300, "*/5 * * * *"),
        (1800, "*/30 * * * *"),
        (3600, "0 * * * *"),
        (7200, "0 */2 * * *"),
        (28800, "0 */8 * * *"),
        (86400, "0 0 * * *"),
        (604800, "0 0 * * 4"),
    ],
)
def test_every_sec_becomes_a_schedule_on_the_same_grid(interval: int, schedule: str) -> None:
    result = kubernetes({"id": "j", "every_sec": interval})
    assert read_yaml(result.files["scoot-job-j.yaml"])["spec"]["schedule"] == schedule
    parsed = parse_cron(schedule)
    instant = datetime(2024, 2, 28, 21, 17, tzinfo=UTC).timestamp()
    for _ in range(6):
        instant = next_after(parsed, instant)
        assert instant % interval == 0
        assert robfig_matches(schedule, instant)
    assert next_after(parsed, instant) - instant == interval


def test_cronjob_names_are_valid_and_distinct() -> None:
    ids = ["report", "Report", "re_port", "re.port", "re-port", "-dash", "x" * 64, "x" * 63 + "y"]
    names = [kubernetes_name(job_id) for job_id in ids]
    assert len(set(names)) == len(names), names
    for name in names:
        assert len(name) <= 52
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
    assert kubernetes_name("report") == "scoot-job-report"


# --- writing --------------------------------------------------------------------------------------


def test_write_export_writes_each_file_atomically(tmp_path: Path) -> None:
    result = systemd({"id": "a", "every_sec": 60}, {"id": "b", "cron": "0 0 * * *"})
    out = tmp_path / "out" / "units"
    lines = write_export(result, out)
    assert lines == [f"wrote {out / name}" for name in result.files]
    assert sorted(path.name for path in out.iterdir()) == sorted(result.files)
    for name, text in result.files.items():
        assert (out / name).read_text() == text
        assert stat.S_IMODE((out / name).stat().st_mode) & 0o044 == 0o044  # world-readable unit
    # Writing again replaces the files in place.
    again = systemd({"id": "a", "every_sec": 120})
    write_export(again, out)
    assert (out / "scoot-job-a.timer").read_text() == again.files["scoot-job-a.timer"]


def test_write_export_without_a_directory_returns_headed_text() -> None:
    result = kubernetes({"id": "a", "every_sec": 60}, {"id": "b", "every_sec": 120})
    lines = write_export(result, None)
    headers = [i for i, line in enumerate(lines) if line.startswith("# --- ")]
    assert [lines[i] for i in headers] == ["# --- scoot-job-a.yaml", "# --- scoot-job-b.yaml"]
    # Each document starts with `---`, so `kubectl apply -f -` sees one CronJob per job.
    assert [lines[i - 1] for i in headers] == ["---", "---"]
    first = "\n".join(lines[headers[0] + 1 : headers[1] - 1]) + "\n"
    assert first == result.files["scoot-job-a.yaml"]


def test_an_unwritable_output_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    with pytest.raises(ScootError) as raised:
        write_export(systemd({"id": "a", "every_sec": 60}), blocker / "units")
    assert "choose another --out directory" in raised.value.message
    assert "\n" not in raised.value.message


# --- the examples in deploy/kubernetes ----------------------------------------------------------


def test_the_example_cronjob_is_what_export_writes() -> None:
    example = (ROOT / "deploy" / "kubernetes" / "cronjob-example.yaml").read_text()
    result = kubernetes(
        {
            "id": "disk-report",
            "goal": "Report the five largest directories under /var/log",
            "cron": "0 6 * * *",
            "timeout_sec": 300,
        }
    )
    assert example == result.files["scoot-job-disk-report.yaml"]


def test_the_volume_claim_and_shell_pod_fit_the_cronjobs() -> None:
    folder = ROOT / "deploy" / "kubernetes"
    claim = read_yaml((folder / "pvc.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["apiVersion"] == "v1"
    assert claim["spec"]["accessModes"] and claim["spec"]["resources"]["requests"]["storage"]
    cronjob = read_yaml((folder / "cronjob-example.yaml").read_text())
    pod_spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod_spec["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    shell = read_yaml((folder / "shell-pod.yaml").read_text())
    assert shell["kind"] == "Pod"
    assert shell["spec"]["securityContext"] == pod_spec["securityContext"]
    (shell_volume,) = shell["spec"]["volumes"]
    assert shell_volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (shell_container,) = shell["spec"]["containers"]
    (cron_container,) = pod_spec["containers"]
    assert shell_container["volumeMounts"][0]["mountPath"] == next(
        m["mountPath"] for m in cron_container["volumeMounts"] if m["name"] == "scoot-data"
    )
    containerfile = (ROOT / "deploy" / "container" / "Containerfile").read_text()
    assert f"--uid {KUBERNETES_UID}" in containerfile


# --- docs/kubernetes.md and deploy/container/README.md, command by command ----------------------
#
# A cluster is not at hand, so each kubectl or podman command is mirrored by
# what it relies on (the manifest it applies parses and names what the others
# use); the scoot, sed and install commands run here for real.

IMAGE = "registry.example.com/scoot:1"
K8S_DOCS = (ROOT / "docs" / "kubernetes.md", ROOT / "deploy" / "container" / "README.md")
EXAMPLE_JOB = {
    "id": "disk-report",
    "goal": "Report the five largest directories under /var/log",
    "cron": "0 6 * * *",
    "timeout_sec": 300,
}


def example_cronjob() -> dict[str, Any]:
    return read_yaml((ROOT / "deploy" / "kubernetes" / "cronjob-example.yaml").read_text())


def pod_spec_of(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def shell_pod() -> dict[str, Any]:
    return read_yaml((ROOT / "deploy" / "kubernetes" / "shell-pod.yaml").read_text())


class K8sDocContext:
    """A local stand-in for the volume: /var/lib/scoot mapped to a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.volume = root / "volume"
        self.volume.mkdir()

    @property
    def mapping(self) -> dict[str, Path]:
        return {"/var/lib/scoot": self.volume, "k8s": self.root / "k8s", "config.toml": self.config}

    @property
    def config(self) -> Path:
        path = self.root / "config.toml"
        if not path.exists():
            toml = "\n".join(f"{key} = {json.dumps(value)}" for key, value in EXAMPLE_JOB.items())
            path.write_text(f"[schedule]\nenabled = false\n\n[[schedule.jobs]]\n{toml}\n")
        return path

    def home(self) -> Path:
        """The volume after the guide's `install -d` and `kubectl cp` steps."""
        home = self.volume / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        if not (home / "config.toml").exists():
            (home / "config.toml").write_bytes(self.config.read_bytes())
        return home


def mirror_build(command: str, ctx: K8sDocContext) -> None:
    argv = shlex.split(command)
    assert argv[argv.index("-f") + 1] == "deploy/container/Containerfile"
    assert argv[-1] == "."
    tag = argv[argv.index("-t") + 1]
    assert tag in (IMAGE, "scoot:latest")
    test_units.test_containerfile_builds_a_non_root_scoot_image()


def mirror_push(command: str, ctx: K8sDocContext) -> None:
    assert command.split()[-1] == IMAGE  # the tag built above and exported below


def mirror_apply_claim(command: str, ctx: K8sDocContext) -> None:
    claim = read_yaml((ROOT / command.split()[-1]).read_text())
    assert claim["kind"] == "PersistentVolumeClaim"
    (volume,) = [
        v for v in pod_spec_of(example_cronjob())["volumes"] if "persistentVolumeClaim" in v
    ]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def mirror_secret(command: str, ctx: K8sDocContext) -> None:
    argv = shlex.split(command)
    name = argv[4]
    key = argv[5].split("=", 2)[1]
    (container,) = pod_spec_of(example_cronjob())["containers"]
    refs = [item["valueFrom"]["secretKeyRef"] for item in container["env"] if "valueFrom" in item]
    assert refs == [{"name": name, "key": key, "optional": True}]
    assert '"$OPENAI_API_KEY"' in command  # the default [backend] api_key_env


def mirror_shell_pod(command: str, ctx: K8sDocContext) -> None:
    left, right = command.split(" | ")
    argv = shlex.split(left)
    argv[-1] = str(ROOT / argv[-1])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    pod = read_yaml(done.stdout)
    assert pod["kind"] == "Pod" and pod["spec"]["containers"][0]["image"] == IMAGE
    assert right == "kubectl apply -f -"


def mirror_pod_name(command: str, ctx: K8sDocContext) -> None:
    name = command.split()[-1].removeprefix("pod/")
    assert name == shell_pod()["metadata"]["name"]


def mirror_make_home(command: str, ctx: K8sDocContext) -> None:
    argv = shlex.split(command)
    assert argv[2] == shell_pod()["metadata"]["name"]
    assert argv[-1] == KUBERNETES_HOME
    (mount,) = shell_pod()["spec"]["containers"][0]["volumeMounts"]
    assert KUBERNETES_HOME.startswith(mount["mountPath"] + "/")
    local = local_argv(" ".join(argv[4:]), ctx.mapping)
    assert subprocess.run(local, timeout=10, check=False).returncode == 0
    assert stat.S_IMODE((ctx.volume / "home").stat().st_mode) == 0o700


def mirror_copy_config(command: str, ctx: K8sDocContext) -> None:
    source, target = shlex.split(command)[2:]
    pod, _, path = target.partition(":")
    assert pod == shell_pod()["metadata"]["name"]
    assert path == f"{KUBERNETES_HOME}/config.toml"
    assert source == "config.toml"
    assert (ctx.home() / "config.toml").read_text() == ctx.config.read_text()


def mirror_schedule_list(command: str, ctx: K8sDocContext) -> None:
    ctx.home()
    argv = local_argv(command.split(" -- ", 1)[1], ctx.mapping)
    done = run_local(argv, home=ctx.root, HOME=str(ctx.root))
    assert done.returncode == 0, done.stderr
    assert "disk-report" in done.stdout


def mirror_apply_export(command: str, ctx: K8sDocContext) -> None:
    result = kubernetes(EXAMPLE_JOB, {"id": "hourly", "every_sec": 3600}, image=IMAGE)
    for name, text in result.files.items():
        assert name.endswith(".yaml") and read_yaml(text)["kind"] == "CronJob"


def mirror_get_cronjobs(command: str, ctx: K8sDocContext) -> None:
    key, value = command.split("-l ", 1)[1].split("=")
    assert example_cronjob()["metadata"]["labels"][key] == value


def mirror_create_job(command: str, ctx: K8sDocContext) -> None:
    cronjob_name = command.split("--from=cronjob/", 1)[1].split()[0]
    assert (
        cronjob_name == kubernetes_name(EXAMPLE_JOB["id"]) == example_cronjob()["metadata"]["name"]
    )


def mirror_logs(command: str, ctx: K8sDocContext) -> None:
    # What the pod runs, run here: its container command, against the volume, with a model.
    home = ctx.home()
    (container,) = pod_spec_of(example_cronjob())["containers"]
    argv = [installed_scoot(), *container["command"][1:]]
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    assert env["SCOOT_HOME"] == KUBERNETES_HOME
    with ScriptedModel({"default": [{"final": "disk report ok"}]}) as model:
        done = run_local(
            argv,
            home=ctx.root,
            SCOOT_HOME=str(home),
            SCOOT_BACKEND_BASE_URL=model.base_url,
            HOME=str(ctx.root),
        )
    assert done.returncode == 0, done.stderr
    assert "disk report ok" in done.stdout + done.stderr


K8S_DOC_MIRRORS: dict[str, Callable[[str, K8sDocContext], None]] = {
    f"podman build -f deploy/container/Containerfile -t {IMAGE} .": mirror_build,
    "podman build -f deploy/container/Containerfile -t scoot:latest .": mirror_build,
    f"podman push {IMAGE}": mirror_push,
    "kubectl apply -f deploy/kubernetes/pvc.yaml": mirror_apply_claim,
    'kubectl create secret generic scoot-backend --from-literal=api-key="$OPENAI_API_KEY"': mirror_secret,
    f'sed \'s#"scoot:latest"#"{IMAGE}"#\' deploy/kubernetes/shell-pod.yaml | kubectl apply -f -': mirror_shell_pod,
    "kubectl wait --for=condition=Ready pod/scoot-shell": mirror_pod_name,
    "kubectl exec scoot-shell -- install -d -m 0700 /var/lib/scoot/home": mirror_make_home,
    "kubectl cp config.toml scoot-shell:/var/lib/scoot/home/config.toml": mirror_copy_config,
    "kubectl exec scoot-shell -- scoot --scoot-home /var/lib/scoot/home schedule list": mirror_schedule_list,
    "kubectl delete pod scoot-shell": mirror_pod_name,
    "kubectl apply -f k8s/": mirror_apply_export,
    "kubectl get cronjobs -l app.kubernetes.io/name=scoot": mirror_get_cronjobs,
    "kubectl create job --from=cronjob/scoot-job-disk-report disk-report-now": mirror_create_job,
    "kubectl logs job/disk-report-now": mirror_logs,
}


@pytest.fixture(scope="module")
def k8s_doc_context(tmp_path_factory: pytest.TempPathFactory) -> K8sDocContext:
    return K8sDocContext(tmp_path_factory.mktemp("kubernetes-doc"))


def test_every_command_in_the_kubernetes_guide_has_a_mirror() -> None:
    commands = {command for path in K8S_DOCS for command in doc_commands(path)}
    assert commands == set(K8S_DOC_MIRRORS), commands ^ set(K8S_DOC_MIRRORS)


@pytest.mark.parametrize("command", list(K8S_DOC_MIRRORS))
def test_kubernetes_guide_command(command: str, k8s_doc_context: K8sDocContext) -> None:
    K8S_DOC_MIRRORS[command](command, k8s_doc_context)
