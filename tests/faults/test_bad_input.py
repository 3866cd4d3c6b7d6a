"""Bad input everywhere: frames, state files, runtime directories and the command line.

No input may end in a traceback: each ends in a clear message and the
documented exit code (0, 1 runtime, 2 usage or config). Frames a worker
sends are validated one by one: each bad line is one `protocol_error`,
and no raw byte of it reaches a record.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoot.shared.fdio import write_all
from scoot.shared.frames import MAX_FRAME_BYTES, Frame, FrameError, FrameReader, decode_frame
from tests.conftest import ScootResult, invoke_main
from tests.faults.support import check_records, jsonl_files, tally
from tests.helpers import run_scoot, supervise, write_config
from worker.main import read_spec

SCENARIO = "bad input"
MARK = "ZQX-RAW-BYTES"
FUZZ = settings(
    max_examples=int(os.environ.get("SCOOT_FAULT_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def count_inputs(number: int = 1) -> None:
    tally(SCENARIO).bad_inputs += number


# --- frames ---------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# An unknown type is named in its error (40 characters at most), so no marker goes there.
frame_types = st.sampled_from(["hello", "audit", "session", "result", "surprise", ""])
frame_objects = st.fixed_dictionaries(
    {"type": frame_types},
    optional={
        "pid": json_values,
        "run_id": json_values,
        "job_id": json_values,
        "mode": json_values,
        "sandbox": json_values,
        "kind": st.sampled_from(["thought", "final", "job_end", "run"]) | json_values,
        "msg": json_values,
        "role": st.sampled_from(["assistant", "user", "root"]) | json_values,
        "content": json_values,
        "status": st.sampled_from(["ok", "error", "denied", "timeout", "fine"]) | json_values,
        "answer": json_values,
        "error": json_values,
    },
)
frame_lines = st.one_of(
    frame_objects.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200).map(lambda raw: raw.replace(b"\n", b" ")),
    json_values.map(lambda value: json.dumps(value).encode()),
)


def frame_error_is_clean(error: FrameError, line: bytes) -> None:
    """Short, and never quoting more than 40 characters of what it refuses."""
    message = str(error)
    assert 0 < len(message) <= 200, message
    text = line.decode("utf-8", "replace")
    for start in range(0, max(0, len(text) - 40)):
        assert text[start : start + 41] not in message, message


@FUZZ
@given(line=frame_lines)
def test_decode_frame_returns_a_frame_or_one_clean_error(line: bytes) -> None:
    try:
        frame = decode_frame(line)
    except FrameError as exc:
        frame_error_is_clean(exc, line)
    else:
        assert isinstance(frame, Frame)
    count_inputs()


@FUZZ
@given(
    data=st.lists(st.binary(max_size=40) | st.just(b"\n") | st.just(b"x" * 70), max_size=30).map(
        b"".join
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_frame_reader_splits_lines_the_same_whatever_the_chunks(
    data: bytes, cuts: list[int]
) -> None:
    limit = 64
    whole = FrameReader(limit)
    expected = [*whole.feed(data), whole.close()]
    chunked = FrameReader(limit)
    got: list[bytes | FrameError | None] = []
    points = sorted({min(c, len(data)) for c in cuts})
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        got += chunked.feed(data[start:end])
    got.append(chunked.close())
    assert [str(x) if isinstance(x, FrameError) else x for x in got] == [
        str(x) if isinstance(x, FrameError) else x for x in expected
    ]
    # The oracle: whole lines up to the limit pass, longer ones and a partial tail are errors.
    *lines, tail = data.split(b"\n")
    oracle = [line if len(line) <= limit else "error" for line in lines]
    oracle.append("error" if tail else None)
    assert [("error" if isinstance(x, FrameError) else x) for x in expected] == oracle
    count_inputs()


def expected_protocol_errors(lines: list[bytes]) -> tuple[int, str | None]:
    """What the parent must make of these lines: (protocol errors, the result's status)."""
    errors = 0
    hello = False
    result: str | None = None
    for line in lines:
        if len(line) > MAX_FRAME_BYTES:
            errors += 1
            continue
        try:
            frame = decode_frame(line)
        except FrameError:
            errors += 1
            continue
        kind = type(frame).__name__
        if kind == "Hello":
            errors += hello
            hello = True
        elif kind == "ResultFrame":
            if result is not None:
                errors += 1
            else:
                result = frame.status  # type: ignore[union-attr]
        elif result is not None:
            errors += 1  # nothing but frames before the result
    return errors, result


def write_lines_body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A worker that sends exactly the lines named in its goal (a JSON list of hex strings)."""
    os.set_blocking(frame_fd, True)
    spec = read_spec(spec_fd)
    plan = json.loads(spec["goal"])
    data = b"".join(bytes.fromhex(item) + b"\n" for item in plan["lines"])
    if plan["oversized"]:
        data += MARK.encode() * (MAX_FRAME_BYTES // len(MARK) + 1) + b"\n"
    data += bytes.fromhex(plan["tail"])
    write_all(frame_fd, data)
    return 0


@FUZZ
@given(
    lines=st.lists(
        # One line each: a newline inside would make it two bad lines, not one.
        frame_lines | st.text(max_size=30).map(lambda t: (MARK + t.replace("\n", "")).encode()),
        max_size=8,
    ),
    oversized=st.booleans(),
    tail=st.sampled_from([b"", b'{"type":"res', MARK.encode()]),
)
@pytest.mark.timeout(120)
def test_a_supervisor_logs_one_protocol_error_per_bad_line_and_no_raw_bytes(
    lines: list[bytes], oversized: bool, tail: bytes
) -> None:
    sent = lines + ([b"x" * (MAX_FRAME_BYTES + 1)] if oversized else [])
    errors, result = expected_protocol_errors(sent)
    errors += bool(tail)  # a partial last line
    goal = json.dumps(
        {"lines": [line.hex() for line in lines], "oversized": oversized, "tail": tail.hex()}
    )
    with scratch_home() as home:
        supervisor, lines_logged = supervise(home, write_lines_body, [goal])
        ((_, outcome),) = supervisor.summary.outcomes
        events = [json.loads(x) for x in (home / "logs" / "audit.jsonl").read_bytes().splitlines()]
        logged = [e for e in events if e["kind"] == "protocol_error"]
        assert len(logged) == errors, ([e["msg"] for e in logged], sent, tail)
        assert outcome.status == (result or "crashed")
        for path in jsonl_files(home):
            assert MARK.encode() not in path.read_bytes(), path
        assert not [line for line in lines_logged if "Traceback" in line]
        check_records(home, SCENARIO)
    count_inputs(len(sent) + bool(tail))


@contextmanager
def scratch_home() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="scoot-faults-"))
    try:
        yield root / "home"
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- corrupt state files --------------------------------------------------------------

GOOD_STATE = {
    "format": "scoot.supervise.daemon.state.v1",
    "status": "running",
    "pid": 1,
    "pid_start_time": 1.0,
    "started_at_unix": 1767225600,
    "updated_at_unix": 1767225630,
    "stopped_at_unix": None,
    "stop_reason": None,
    "schedule_enabled": True,
    "jobs": 1,
    "poll_ms": 100,
    "note": "",
    "version": "0.1.0",
}
GOOD_LEDGER = {
    "format": "scoot.schedule.ledger.v1",
    "jobs": {
        "a": {
            "trigger": "every:60",
            "last_instant": 1767225600.0,
            "last_fired": 1767225600.0,
            "last_run_id": "r1",
            "in_flight": [
                {
                    "run_id": "r2",
                    "instant": 1767225660.0,
                    "started_at": 1767225660.0,
                    "owner_pid": 1,
                    "owner_start": 1.0,
                }
            ],
        }
    },
}
GOOD_RUN = {
    "run_id": "r1",
    "job_id": "a",
    "session_id": "job-a",
    "origin": "schedule",
    "mode": "readonly",
    "instant": 1767225600.0,
    "started_at": 1767225600.1,
    "ended_at": 1767225600.9,
    "status": "ok",
    "exit_code": 0,
    "signal": None,
    "duration_ms": 800,
    "peak_rss_kb": 27000,
    "answer": "fine",
    "error": None,
}
GOOD_SESSION_LINE = {"ts": 1767225600123, "run_id": "r1", "role": "assistant", "content": "hi"}

# Which commands read which file, and each command's exit code on a damaged file.
READERS: dict[str, list[list[str]]] = {
    "state/daemon.json": [["daemon", "status"], ["daemon", "status", "--json"], ["daemon", "stop"]],
    "state/ledger.json": [["schedule", "list"], ["schedule", "list", "--json"]],
    "state/runs.jsonl": [
        ["schedule", "history"],
        ["schedule", "history", "--json"],
        ["schedule", "list"],
    ],
    "state/sessions/job-a.jsonl": [["session", "show", "job-a"], ["sessions", "list"]],
}
GOOD: dict[str, Any] = {
    "state/daemon.json": GOOD_STATE,
    "state/ledger.json": GOOD_LEDGER,
    "state/runs.jsonl": GOOD_RUN,
    "state/sessions/job-a.jsonl": GOOD_SESSION_LINE,
}


def damaged(good: dict[str, Any], draw: Any) -> bytes:
    """A damaged version of `good`: fields replaced by any JSON, nested deeper, or raw garbage."""
    how = draw(st.sampled_from(["fields", "nested", "json", "bytes", "cut"]))
    if how == "fields":
        value = dict(good)
        for key in draw(st.lists(st.sampled_from(sorted(good)), min_size=1, max_size=4)):
            value[key] = draw(json_values)
        return json.dumps(value).encode()
    if how == "nested":
        value = json.loads(json.dumps(good))
        inner = value.get("jobs", {}).get("a") if isinstance(value.get("jobs"), dict) else None
        target = inner if isinstance(inner, dict) else value
        target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
        if isinstance(inner, dict) and inner.get("in_flight"):
            inner["in_flight"] = draw(json_values)
        return json.dumps(value).encode()
    if how == "json":
        return json.dumps(draw(json_values)).encode()
    if how == "bytes":
        return draw(st.binary(max_size=300))
    text = json.dumps(good).encode()
    return text[: draw(st.integers(min_value=0, max_value=len(text)))]


def one_clean_line(result: ScootResult, codes: tuple[int, ...] = (0, 1, 2)) -> None:
    assert "Traceback" not in result.out + result.err
    assert "internal error" not in result.err, result.err
    assert result.code in codes, result
    problems = [line for line in result.err.splitlines() if not line.startswith("scoot: warning")]
    if result.code == 2 or (result.code == 1 and problems):
        assert len(problems) == 1 and problems[0].startswith(("scoot: ", "[scoot] ")), result.err
    elif result.code == 1:
        assert result.out.strip(), result  # a verdict (policy check: deny) on stdout


@FUZZ
@given(data=st.data(), target=st.sampled_from(sorted(READERS)))
@pytest.mark.timeout(120)
def test_damaged_state_files_never_crash_a_reader(data: Any, target: str) -> None:
    content = damaged(GOOD[target], data.draw)
    if target.endswith(".jsonl"):
        content = json.dumps(GOOD[target]).encode() + b"\n" + content + b"\n"
    with scratch_home() as home:
        write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 60}])
        path = home / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        user_home = home.parent / "user"
        user_home.mkdir()
        for args in READERS[target]:
            result = invoke_main(["--scoot-home", str(home), *args], user_home)
            if args[:2] == ["daemon", "status"]:
                # Its exit status is its verdict (LSB): no daemon runs here, so 1 (the
                # state says running: dead), 3 (not running) or 4 (state unreadable).
                one_clean_line(result, codes=(1, 3, 4))
            else:
                one_clean_line(result)
                # Readers report damage and go on: nothing they read is worth an error exit.
                assert result.code == 0, (args, result)
            count_inputs()


@pytest.mark.parametrize("line", [b"[1, 2]", b"3", b'"text"', b"null"])
def test_session_show_survives_lines_that_are_json_but_not_objects(
    tmp_path: Path, line: bytes
) -> None:
    home = tmp_path / "home"
    write_config(home)
    session = home / "state" / "sessions" / "job-a.jsonl"
    session.parent.mkdir(parents=True, exist_ok=True)
    session.write_bytes(json.dumps(GOOD_SESSION_LINE).encode() + b"\n" + line + b"\n")
    result = invoke_main(["--scoot-home", str(home), "session", "show", "job-a"], tmp_path)
    one_clean_line(result)
    assert result.code == 0


CORRUPT_FOR_DAEMON = {
    "daemon.json": [b"", b"{not json", b"[]", json.dumps({**GOOD_STATE, "pid": "x"}).encode()],
    "ledger.json": [
        b"\xff\xfe garbage",
        json.dumps(
            {
                "format": "scoot.schedule.ledger.v1",
                "jobs": {"a": {"trigger": "every:1", "in_flight": 5}},
            }
        ).encode(),
        json.dumps(
            {
                "format": "scoot.schedule.ledger.v1",
                "jobs": {"a": {"trigger": "every:1", "in_flight": [1, "x", None]}},
            }
        ).encode(),
    ],
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "content"),
    [(name, content) for name, contents in CORRUPT_FOR_DAEMON.items() for content in contents],
)
def test_daemon_run_over_a_damaged_state_file_starts_and_says_so(
    tmp_path: Path, name: str, content: bytes
) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "state" / name).write_bytes(content)
    done = run_scoot(home, "daemon", "run", "--ticks", "1")
    assert "Traceback" not in done.stdout + done.stderr
    assert "internal error" not in done.stderr, done.stderr
    assert "daemon started" in done.stdout, done.stderr
    assert done.returncode == 1  # the one run failed: the backend is unreachable
    state = json.loads((home / "state" / "daemon.json").read_bytes())
    assert state["status"] == "stopped" and state["stop_reason"] == "ticks"
    if name == "ledger.json" and content.startswith(b"\xff"):
        assert "unreadable" in done.stderr
        assert (home / "state" / "ledger.json.corrupt").read_bytes() == content
    check_records(home, SCENARIO)
    count_inputs()


# --- runtime directories ----------------------------------------------------------------


def test_a_runtime_dir_open_to_everyone_is_run_with_a_warning(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    os.chmod(home, 0o777)
    done = run_scoot(home, "daemon", "run", "--ticks", "1")
    assert "daemon started" in done.stdout, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "writable by group or others" in line]
    assert len(warnings) == 1 and "chmod 700" in warnings[0], done.stderr
    assert "Traceback" not in done.stderr
    check_records(home, SCENARIO)
    count_inputs()


def test_a_runtime_dir_of_another_user_runs_nothing_but_can_be_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "state" / "runs.jsonl").write_text(json.dumps(GOOD_RUN) + "\n")
    for path in [home, *home.rglob("*")]:
        os.chown(path, 65534, 65534)
    user_home = tmp_path / "user"
    user_home.mkdir()
    for args in (
        ["daemon", "run", "--ticks", "1"],
        ["schedule", "run", "--ticks", "1"],
        ["schedule", "trigger", "a"],
        ["-e", "anything"],
    ):
        result = invoke_main(["--scoot-home", str(home), *args], user_home)
        one_clean_line(result)
        assert result.code == 1, (args, result)
        assert "refusing to run jobs" in result.err and "uid 65534" in result.err
        count_inputs()
    assert not (home / "state" / "daemon.json").exists()
    assert not (home / "logs" / "audit.jsonl").exists()
    for args in (["schedule", "list"], ["schedule", "history"], ["daemon", "status"]):
        result = invoke_main(["--scoot-home", str(home), *args], user_home)
        status = args == ["daemon", "status"]
        one_clean_line(result, codes=(3,) if status else (0,))
        assert result.code == (3 if status else 0), (args, result)  # status: never started
        count_inputs()


# --- the command line -------------------------------------------------------------------

ids = st.text(max_size=70) | st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
crons = st.text(max_size=40) | st.lists(
    st.sampled_from(["*", "*/5", "1-5", "mon", "jan", "0", "7", "60", "1,2", "-", "/", "?"]),
    min_size=1,
    max_size=7,
).map(" ".join)
numbers = st.text(max_size=12) | st.integers(min_value=-(2**65), max_value=2**65).map(str)


def _is_zero(text: str) -> bool:
    try:
        return int(text) == 0
    except ValueError:
        return False


# `--ticks 0` runs forever: with no runnable job it waits for a reload (test_no_runnable_jobs.py).
finite_ticks = numbers.filter(lambda v: not _is_zero(v))


@FUZZ
@given(job_id=ids, cron=crons)
def test_job_ids_and_cron_strings_from_a_config_never_crash_list(job_id: str, cron: str) -> None:
    with scratch_home() as home:
        home.mkdir(parents=True)
        document = (
            "[schedule]\nenabled = true\n[[schedule.jobs]]\n"
            f'id = {json.dumps(job_id)}\ngoal = "g"\ncron = {json.dumps(cron)}\n'
        )
        (home / "config.toml").write_text(document)
        user_home = home.parent / "user"
        user_home.mkdir()
        for args in (["schedule", "list"], ["schedule", "list", "--json"]):
            result = invoke_main(["--scoot-home", str(home), *args], user_home)
            one_clean_line(result)
            assert result.code in (0, 2)
        count_inputs()


@FUZZ
@given(
    args=st.one_of(
        ids.map(lambda v: ["schedule", "trigger", v]),
        ids.map(lambda v: ["schedule", "history", v]),
        ids.map(lambda v: ["session", "show", v]),
        ids.map(lambda v: ["audit", "show", v]),
        finite_ticks.map(lambda v: ["schedule", "run", "--ticks", v]),
        numbers.map(lambda v: ["schedule", "history", "--limit", v]),
        numbers.map(lambda v: ["daemon", "stop", "--timeout", v]),
        ids.map(lambda v: ["daemon", v]),
        ids.map(lambda v: ["schedule", "list", f"--{v}"]),
        ids.map(lambda v: ["policy", "check", "bash", v, "--mode", v]),
    )
)
def test_fuzzed_command_lines_end_in_one_clean_line(args: list[str]) -> None:
    with scratch_home() as home:
        write_config(home)  # no jobs: nothing a fuzzed command could start
        user_home = home.parent / "user"
        user_home.mkdir()
        result = invoke_main(["--scoot-home", str(home), *args], user_home)
        # `daemon status` exits 3 where no daemon ever ran.
        one_clean_line(result, codes=(0, 1, 2, 3) if args == ["daemon", "status"] else (0, 1, 2))
    count_inputs()
