"""Hostile frames: any bytes, any JSON value, any depth, lone surrogates, huge integers.

The decoder either returns a frame whose every value the parent's writers
accept, or raises FrameError; the supervisor turns each bad line into one
`protocol_error` and keeps the run's records valid JSON lines.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoot.shared.fdio import write_all
from scoot.shared.frames import MAX_FRAME_DEPTH, AuditFrame, FrameError, Hello, decode_frame
from tests.helpers import supervise
from worker.main import read_spec

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text that includes lone surrogates, which JSON escapes allow and UTF-8 does not.
hostile_text = st.text(
    st.characters(codec=None, exclude_categories=()) | st.sampled_from("\ud800\udfff\x00\x1b"),
    max_size=20,
)
hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),
    hostile_text,
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)


def storable(value: Any) -> None:
    """Raises unless orjson (the parent's record writer) can store `value`."""
    orjson.dumps(value)


def frame_values(frame: Any) -> list[Any]:
    return [getattr(frame, name) for name in frame.__dataclass_fields__]


@FUZZ
@given(
    value=st.fixed_dictionaries(
        {"type": st.sampled_from(["hello", "audit", "session", "result"])},
        optional={
            "pid": hostile_values,
            "run_id": hostile_values,
            "mode": hostile_values,
            "sandbox": hostile_values,
            "kind": st.just("thought") | hostile_values,
            "msg": hostile_values,
            "role": st.just("assistant") | hostile_values,
            "content": hostile_values,
            "status": st.just("ok") | hostile_values,
            "answer": hostile_values,
        },
    )
    | hostile_values
)
def test_any_json_value_decodes_to_a_storable_frame_or_a_frame_error(value: Any) -> None:
    line = json.dumps(value, ensure_ascii=True).encode()
    try:
        frame = decode_frame(line)
    except FrameError as exc:
        assert str(exc)
    else:
        for field in frame_values(frame):
            storable(field)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_decode_to_a_frame_or_a_frame_error(raw: bytes) -> None:
    try:
        frame = decode_frame(raw.replace(b"\n", b" "))
    except FrameError:
        return
    for field in frame_values(frame):
        storable(field)


@pytest.mark.parametrize("depth", [MAX_FRAME_DEPTH + 1, 1000, 50_000, 500_000])
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_one_frame_error(depth: int, opener: bytes) -> None:
    for line in (opener * depth, b'{"type":"hello","pid":1,"sandbox":' + opener * depth):
        with pytest.raises(FrameError, match="nests deeper|not JSON|byte limit"):
            decode_frame(line)


def test_nesting_within_the_limit_still_decodes() -> None:
    sandbox = json.dumps({"a": [[{"b": [1]}]]})
    frame = decode_frame(
        f'{{"type":"hello","pid":7,"run_id":"r","mode":"readonly","sandbox":{sandbox}}}'.encode()
    )
    assert isinstance(frame, Hello) and frame.sandbox == {"a": [[{"b": [1]}]]}


def test_lone_surrogates_and_huge_integers_are_made_storable() -> None:
    frame = decode_frame(b'{"type":"audit","kind":"thought","msg":"a\\ud800b\\udfff"}')
    assert isinstance(frame, AuditFrame)
    assert frame.msg == "a\ufffdb\ufffd"
    hello = decode_frame(
        b'{"type":"hello","pid":3,"run_id":"r","mode":"readonly",'
        b'"sandbox":{"n":' + b"9" * 100 + b',"\\udc80":"x"}}'
    )
    assert isinstance(hello, Hello)
    assert hello.sandbox == {"n": "9" * 100, "\ufffd": "x"}
    storable(hello.sandbox)


def send_lines_body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A worker that sends the hex-encoded lines of its goal, then a result."""
    os.set_blocking(frame_fd, True)
    lines = [bytes.fromhex(item) for item in json.loads(read_spec(spec_fd)["goal"])]
    data = b"".join(line + b"\n" for line in lines)
    data += b'{"type":"result","status":"ok","answer":"still here \\ud800"}\n'
    write_all(frame_fd, data)
    return 0


@pytest.mark.timeout(120)
def test_a_supervised_run_survives_hostile_frames_and_keeps_valid_records() -> None:
    hostile = [
        b"[" * 50_000,
        b'{"a":' * 100_000,
        b'{"type":"audit","kind":"thought","msg":"\\ud800"}',
        b'{"type":"session","role":"assistant","content":"\\udfff\\u001b[2J"}',
        b'{"type":"hello","pid":' + b"9" * 4000 + b',"sandbox":{}}',
        b'{"type":"audit","kind":"thought","msg":' + b"1" * 5000 + b"}",
        b"\xff\xfe\x00",
    ]
    root = Path(tempfile.mkdtemp(prefix="scoot-frames-"))
    try:
        home = root / "home"
        supervisor, _ = supervise(home, send_lines_body, [json.dumps([h.hex() for h in hostile])])
        ((_, outcome),) = supervisor.summary.outcomes
        assert outcome.status == "ok"
        assert outcome.answer == "still here \ufffd"
        records: list[dict[str, Any]] = []
        for path in sorted(home.rglob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                records.append(orjson.loads(line))
        errors = [r for r in records if r.get("kind") == "protocol_error"]
        # The 50,000 brackets, the 100,000 objects, the 4000-digit pid, the 5000-digit
        # msg (not text) and the invalid bytes: one protocol error each.
        assert len(errors) == 5, [e["msg"] for e in errors]
    finally:
        shutil.rmtree(root, ignore_errors=True)
