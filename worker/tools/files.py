"""The file tools: read, write (atomically) and edit files under the policy's path checks."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from worker.tools.base import BINARY_SNIFF_BYTES, MAX_EDIT_BYTES, ToolError


def _resolve(cwd: str, path: str) -> Path:
    return Path(cwd, path)


def _open_checked(cwd: str, path: str) -> BinaryIO:
    """`path` opened for reading, with one-line errors for the usual mistakes."""
    try:
        return _resolve(cwd, path).open("rb")
    except FileNotFoundError:
        raise ToolError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory; use glob to list it") from None
    except PermissionError:
        raise ToolError(f"permission denied: {path}") from None
    except OSError as error:
        raise ToolError(f"cannot read {path}: {error.strerror or error}") from None


def _read_bytes_checked(cwd: str, path: str) -> bytes:
    """The file's bytes (at most MAX_EDIT_BYTES + 1), with one-line errors for the usual mistakes."""
    with _open_checked(cwd, path) as handle:
        try:
            return handle.read(MAX_EDIT_BYTES + 1)
        except OSError as error:
            raise ToolError(f"cannot read {path}: {error.strerror or error}") from None


def _open_text_checked(cwd: str, path: str) -> BinaryIO:
    """`path` opened for reading, after refusing directories and binary files."""
    handle = _open_checked(cwd, path)
    head = handle.read(BINARY_SNIFF_BYTES)
    if b"\x00" in head:
        handle.close()
        raise ToolError(f"{path} looks like a binary file; only text files can be read")
    handle.seek(0)
    return handle


def _capped_lines(handle: BinaryIO, cap: int) -> Iterator[bytes]:
    """The file's lines, each cut to at most `cap` bytes, so one huge line cannot fill memory."""
    while True:
        line = handle.readline(cap)
        if not line:
            return
        if len(line) == cap and not line.endswith(b"\n"):
            # Skip the rest of an overlong line, chunk by chunk.
            rest = handle.readline(65536)
            while rest and not rest.endswith(b"\n"):
                rest = handle.readline(65536)
        yield line


def read_file(cwd: str, path: str, start: int | None, end: int | None, max_bytes: int) -> str:
    """The text of `path`, or lines start..end (1-based, inclusive), at most `max_bytes`."""
    with _open_text_checked(cwd, path) as handle:
        if start is None and end is None:
            data = handle.read(max_bytes + 1)
            if len(data) <= max_bytes:
                return data.decode("utf-8", errors="replace")
            size = os.fstat(handle.fileno()).st_size
            return data[:max_bytes].decode("utf-8", errors="replace") + (
                f"\n[truncated: showed the first {max_bytes} of {size} bytes; "
                'read on with {"path": ..., "start": N, "end": M}]'
            )
        first = start or 1
        selected: list[bytes] = []
        size = 0
        count = 0
        truncated = False
        for number, line in enumerate(_capped_lines(handle, max_bytes + 1), start=1):
            count = number
            if number < first:
                continue
            if end is not None and number > end:
                break
            if size + len(line) > max_bytes:
                truncated = True
                break
            selected.append(line)
            size += len(line)
    if count < first:
        raise ToolError(f"{path} has only {count} lines; start {first} is past its end")
    text = b"".join(selected).decode("utf-8", errors="replace")
    last = first + len(selected) - 1
    note = f"[{path} lines {first}-{last}]"
    if truncated:
        note += f" [stopped after {max_bytes} bytes; continue from line {last + 1}]"
    return f"{note}\n{text}"


def _write_atomically(target: Path, data: bytes, shown: str) -> None:
    """Replace `target` with `data` via a temporary file in the same directory."""
    parent = target.parent
    if not parent.is_dir():
        missing = os.path.dirname(shown.rstrip("/")) or str(parent)
        raise ToolError(f"directory does not exist: {missing} (create it first)")
    if target.is_dir():
        raise ToolError(f"{shown} is a directory")
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        mode = None
    temp = parent / f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        # 0o666 lets the umask decide a new file's mode, as for any other tool.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError:
        raise ToolError(f"permission denied: cannot write in the directory of {shown}") from None
    except OSError as error:
        raise ToolError(f"cannot write {shown}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise ToolError(f"cannot write {shown}: {error.strerror or error}") from None


def write_file(cwd: str, path: str, content: str) -> str:
    """Create or replace `path` with `content` (UTF-8), atomically."""
    data = content.encode("utf-8")
    _write_atomically(_resolve(cwd, path), data, path)
    return f"wrote {len(data)} bytes to {path}"


def edit_file(cwd: str, path: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` in `path` with `new`."""
    data = _read_bytes_checked(cwd, path)
    if len(data) > MAX_EDIT_BYTES:
        raise ToolError(f"{path} is too large to edit ({len(data)} bytes; limit {MAX_EDIT_BYTES})")
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise ToolError(f"{path} looks like a binary file; only text files can be edited")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not UTF-8 text; it cannot be edited") from None
    count = text.count(old)
    if count != 1:
        hint = "add surrounding lines to make it unique" if count else "copy it exactly"
        raise ToolError(
            f"old text found {count} times in {path}; it must match exactly once ({hint})"
        )
    updated = text.replace(old, new, 1).encode("utf-8")
    _write_atomically(_resolve(cwd, path), updated, path)
    return f"edited {path}: replaced 1 occurrence ({len(data)} -> {len(updated)} bytes)"
