"""The worker-to-parent frame protocol: one JSON object per line, at most 1 MiB.

Stdlib only: the worker imports this module in every run. A frame is
untrusted input (a tool can write to the worker's pipe), so decoding bounds
its nesting and cleans every value into what the parent's writers accept:
valid UTF-8 text and integers orjson can store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from scoot.shared.clipping import clip
from scoot.shared.value_class import value_class

MAX_FRAME_BYTES = 1024 * 1024
RESULT_STATUSES = frozenset({"ok", "error", "denied", "timeout", "budget"})
# The most tokens one usage frame may report (a larger figure is a lie or a bug).
MAX_FRAME_TOKENS = 2**40
AGENT_AUDIT_KINDS = frozenset(
    {
        "run",
        "thought",
        "tool_call",
        "observation",
        "final",
        "policy_deny",
        "system_error",
        "sandbox",
    }
)
SESSION_ROLES = frozenset({"system", "user", "assistant", "observation"})
MAX_TEXT_CHARS = 256 * 1024
# Deeper JSON than any real frame needs; the sandbox report nests three levels.
MAX_FRAME_DEPTH = 16
# orjson, which writes the parent's records, stores integers of at most 64 bits.
_INT_RANGE = (-(2**63), 2**64 - 1)
_SURROGATE = re.compile("[\ud800-\udfff]")


class FrameError(ValueError):
    """A frame the parent refuses; the message never contains the raw bytes."""


def _too_long(size: int, limit: int) -> FrameError:
    """The error of a frame line longer than `limit` bytes (never its bytes)."""
    return FrameError(f"frame of {size} bytes exceeds the {limit} byte limit")


def encode_frame(frame: dict[str, Any]) -> bytes:
    """One line of compact JSON; oversized text is clipped so the frame always fits."""
    data = json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    if len(data) < MAX_FRAME_BYTES:
        return data + b"\n"
    clipped = dict(frame)
    for key in ("msg", "content", "answer", "error"):
        value = clipped.get(key)
        if isinstance(value, str):
            clipped[key] = clip(value, 4096, tail=0.5)
    data = json.dumps(clipped, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    return data + b"\n"


def _text(frame: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = frame.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise FrameError(f"{frame.get('type')} frame field {key!r} must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise FrameError(f"{frame.get('type')} frame field {key!r} is too long")
    return value


def clean_text(text: str) -> str:
    """`text` with lone surrogates (valid in JSON escapes, not in UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def clean_value(value: Any) -> Any:
    """A decoded JSON value made safe to store: clean text, 64-bit integers, bounded depth.

    Iterative, so no input can exhaust the stack; too deep raises RecursionError
    (mapped to FrameError by the caller), an out-of-range integer becomes text.
    """
    root: list[Any] = [value]
    # (container, key or index, value, depth) still to clean.
    pending: list[tuple[Any, Any, Any, int]] = [(root, 0, value, 0)]
    while pending:
        parent, slot, item, depth = pending.pop()
        if isinstance(item, str):
            parent[slot] = clean_text(item)
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if not _INT_RANGE[0] <= item <= _INT_RANGE[1]:
                parent[slot] = str(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_FRAME_DEPTH:
                raise RecursionError
            if isinstance(item, dict):
                copy: Any = {clean_text(str(k)): v for k, v in item.items()}
                slots: Any = copy.items()
            else:
                copy = list(item)
                slots = enumerate(copy)
            parent[slot] = copy
            pending.extend((copy, k, v, depth + 1) for k, v in slots)
        else:
            parent[slot] = clean_text(str(item))
    return root[0]


@value_class
class Hello:
    pid: int
    run_id: str
    job_id: str | None
    mode: str
    sandbox: dict[str, Any]


@value_class
class AuditFrame:
    kind: str
    msg: str


@value_class
class SessionFrame:
    role: str
    content: str


@value_class
class ResultFrame:
    status: str
    answer: str | None
    error: str | None
    ended_mono: float | None = None  # the worker's CLOCK_MONOTONIC when it ended


@value_class
class UsageFrame:
    """The tokens of one model answer, and the backend that gave it."""

    input: int
    output: int
    reported: bool
    backend: str


@value_class
class FallbackFrame:
    """The run left one backend for its fallback."""

    from_backend: str
    to_backend: str
    reason: str


Frame = Hello | AuditFrame | SessionFrame | ResultFrame | UsageFrame | FallbackFrame


def _tokens(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_FRAME_TOKENS:
        raise FrameError(f"usage frame field {key!r} must be a whole number of tokens")
    return value


def _hello(value: dict[str, Any]) -> Hello:
    pid = value.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise FrameError("hello frame field 'pid' must be an integer")
    sandbox = value.get("sandbox")
    if not isinstance(sandbox, dict):
        raise FrameError("hello frame field 'sandbox' must be an object")
    return Hello(
        pid,
        _text(value, "run_id") or "",
        _text(value, "job_id", optional=True),
        _text(value, "mode") or "",
        sandbox,
    )


def _audit(value: dict[str, Any]) -> AuditFrame:
    audit_kind = _text(value, "kind") or ""
    if audit_kind not in AGENT_AUDIT_KINDS:
        raise FrameError(f"audit frame kind {audit_kind[:40]!r} is not an agent kind")
    return AuditFrame(audit_kind, _text(value, "msg") or "")


def _session(value: dict[str, Any]) -> SessionFrame:
    role = _text(value, "role") or ""
    if role not in SESSION_ROLES:
        raise FrameError(f"session frame role {role[:40]!r} is unknown")
    return SessionFrame(role, _text(value, "content") or "")


def _result(value: dict[str, Any]) -> ResultFrame:
    status = _text(value, "status") or ""
    if status not in RESULT_STATUSES:
        raise FrameError(f"result frame status {status[:40]!r} is unknown")
    ended = value.get("ended_mono")
    if ended is not None and (
        not isinstance(ended, int | float) or isinstance(ended, bool) or ended != ended
    ):
        raise FrameError("result frame field 'ended_mono' must be a number")
    return ResultFrame(
        status,
        _text(value, "answer", optional=True),
        _text(value, "error", optional=True),
        None if ended is None else float(ended),
    )


def _usage(value: dict[str, Any]) -> UsageFrame:
    reported = value.get("reported")
    if not isinstance(reported, bool):
        raise FrameError("usage frame field 'reported' must be true or false")
    return UsageFrame(
        _tokens(value, "input"),
        _tokens(value, "output"),
        reported,
        (_text(value, "backend") or "")[:64],
    )


def _fallback(value: dict[str, Any]) -> FallbackFrame:
    return FallbackFrame(
        (_text(value, "from") or "")[:64],
        (_text(value, "to") or "")[:64],
        (_text(value, "reason") or "")[:1000],
    )


# Each frame type and the function that validates its fields into a typed frame.
_DECODERS: dict[str, Callable[[dict[str, Any]], Frame]] = {
    "hello": _hello,
    "audit": _audit,
    "session": _session,
    "result": _result,
    "usage": _usage,
    "fallback": _fallback,
}


def decode_frame(line: bytes) -> Frame:
    """Validate one line (without its newline) into a typed frame, or raise FrameError."""
    if len(line) > MAX_FRAME_BYTES:
        raise _too_long(len(line), MAX_FRAME_BYTES)
    try:
        value = clean_value(json.loads(line))
    except (UnicodeDecodeError, ValueError):
        raise FrameError(f"malformed frame ({len(line)} bytes, not JSON)") from None
    except RecursionError:
        raise FrameError(f"frame nests deeper than {MAX_FRAME_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise FrameError("malformed frame (not a JSON object)")
    kind = value.get("type")
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
        raise FrameError(f"unknown frame type {shown!r}")
    return decoder(value)


class FrameReader:
    """Splits a byte stream into frame lines, bounding memory on oversized lines."""

    def __init__(self, limit: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = limit
        self._discarding = 0  # bytes of an oversized line dropped so far

    def feed(self, chunk: bytes) -> list[bytes | FrameError]:
        """Return complete lines, or a FrameError for each line that was too long."""
        out: list[bytes | FrameError] = []
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                break
            piece = chunk[start:newline]
            if self._discarding:
                size = self._discarding + len(piece)
                self._discarding = 0
                out.append(_too_long(size, self._limit))
            elif len(self._buffer) + len(piece) > self._limit:
                size = len(self._buffer) + len(piece)
                self._buffer.clear()
                out.append(_too_long(size, self._limit))
            else:
                self._buffer.extend(piece)
                out.append(bytes(self._buffer))
                self._buffer.clear()
            start = newline + 1
        rest = chunk[start:]
        if self._discarding:
            self._discarding += len(rest)
        elif len(self._buffer) + len(rest) > self._limit:
            self._discarding = len(self._buffer) + len(rest)
            self._buffer.clear()
        else:
            self._buffer.extend(rest)
        return out

    def close(self) -> FrameError | None:
        """At end of stream: a partial last line is a protocol error."""
        if self._discarding:
            size, self._discarding = self._discarding, 0
            return _too_long(size, self._limit)
        if self._buffer:
            size = len(self._buffer)
            self._buffer.clear()
            return FrameError(f"partial frame of {size} bytes at end of stream")
        return None
