"""Size-based rotation of append-only JSONL files into numbered generations.

`audit.jsonl` becomes `audit.jsonl.1`, `.1` becomes `.2`, and so on up to
the number kept; the oldest is evicted and the range it held (sequence
numbers, timestamps, lines) is appended to `logs/audit.jsonl.gaps.jsonl`,
so a reader always knows what is gone. Callers rotate while holding the
file's flock, so no line is split and no appender writes into a rotated file
unknowingly (appenders compare inodes before each write).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from scoot.records.files import append_line

EDGE_BYTES = 64 * 1024


def generation(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def gaps_path_for(audit_log: Path) -> Path:
    return audit_log.with_name(audit_log.name + ".gaps.jsonl")


def _edge_records(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None, int]:
    """First and last parseable records of a file, and its line count."""
    first = last = None
    lines = 0
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                lines += 1
                if first is None:
                    first = _parse(raw)
            size = handle.tell()
            handle.seek(max(0, size - EDGE_BYTES))
            for raw in reversed(handle.read().splitlines()):
                last = _parse(raw)
                if last is not None:
                    break
    except OSError:
        pass
    return first, last, lines


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def describe_evicted(path: Path, stream: str) -> dict[str, Any]:
    first, last, lines = _edge_records(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return {
        "ts": int(time.time() * 1000),
        "stream": stream,
        "file": path.name,
        "lines": lines,
        "bytes": size,
        "first_seq": (first or {}).get("seq"),
        "last_seq": (last or {}).get("seq"),
        "first_ts": (first or {}).get("ts"),
        "last_ts": (last or {}).get("ts"),
    }


def rotate(path: Path, keep: int, *, gaps: Path, stream: str) -> None:
    """Shift `path` into generation 1, keeping `keep` generations; record evictions.

    Must be called with the file's flock held.
    """
    oldest = generation(path, keep)
    if oldest.exists():
        append_line(gaps, describe_evicted(oldest, stream), sync=True)
        oldest.unlink()
    for number in range(keep - 1, 0, -1):
        source = generation(path, number)
        if source.exists():
            os.replace(source, generation(path, number + 1))
    if path.exists():
        os.replace(path, generation(path, 1))
